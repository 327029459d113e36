//! Record types and classes: numbers, mnemonics, and the rdata layout of each type.

use std::fmt;

/// A record type number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Rtype(pub u16);

/// A class number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Class(pub u16);

impl Class {
    pub const IN: Class = Class(1);
    pub const CH: Class = Class(3);
    pub const HS: Class = Class(4);
    pub const NONE: Class = Class(254);
    pub const ANY: Class = Class(255);

    /// Parses `IN`, `CH`, `CS`, `HS`, `CLASSn` (case-insensitive).
    pub fn parse(s: &[u8]) -> Option<Class> {
        if s.eq_ignore_ascii_case(b"IN") {
            return Some(Class::IN);
        }
        if s.eq_ignore_ascii_case(b"CH") {
            return Some(Class::CH);
        }
        if s.eq_ignore_ascii_case(b"CS") {
            return Some(Class(2));
        }
        if s.eq_ignore_ascii_case(b"HS") {
            return Some(Class::HS);
        }
        if s.len() > 5 && s[..5].eq_ignore_ascii_case(b"CLASS") {
            return parse_u16_strict(&s[5..]).map(Class);
        }
        None
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("IN"),
            3 => f.write_str("CH"),
            4 => f.write_str("HS"),
            254 => f.write_str("NONE"),
            255 => f.write_str("ANY"),
            n => write!(f, "CLASS{}", n),
        }
    }
}

impl fmt::Debug for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn parse_u16_strict(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// How the rdata of a type is laid out, field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    U8,
    U16,
    U32,
    /// A 32-bit period that may be written with TTL units (SOA timers).
    Period,
    /// A domain name, compressible on the wire in answers (RFC 3597 §4).
    CName,
    /// A domain name never compressed.
    Name,
    Ipv4,
    Ipv6,
    /// One <character-string>.
    Str,
    /// One or more <character-string>s up to the end.
    Strs,
    /// Base64 over the remaining tokens (may be empty where noted by the type).
    Base64,
    /// Hexadecimal over the remaining tokens.
    Hex,
    /// Hexadecimal over the remaining tokens, `-`-free, may be empty.
    HexOpt,
    /// A type mnemonic as u16 (RRSIG type covered).
    Type,
    /// DNSSEC algorithm: number or mnemonic, one octet; printed as a number.
    Alg,
    /// The same, printed as a mnemonic where one exists (CERT).
    CertAlg,
    /// RRSIG time: YYYYMMDDHHMMSS or a decimal number of seconds.
    Time,
    /// NSEC-style type bitmap over the remaining tokens.
    Bitmap,
    /// Length-prefixed hex salt, `-` for empty.
    Salt,
    /// Length-prefixed Base32hex hash (NSEC3 next owner).
    Base32,
    /// CERT type: mnemonic or number, two octets.
    CertType,
    /// CAA tag: length-prefixed, alphanumeric.
    CaaTag,
    /// A string up to the end of the rdata without a length octet (CAA value, URI target).
    Rest,
    /// 64-bit locator written as four groups of hex (NID, L64).
    Locator64,
    /// EUI-48 as `xx-xx-xx-xx-xx-xx`.
    Eui48,
    /// EUI-64 as eight groups.
    Eui64,
    /// Whole-rdata special forms.
    Loc,
    Svcb,
    Apl,
    IpsecKey,
    Wks,
    Nsap,
    /// ATMA address: NSAP hex (format 0) or `+` and E.164 digits (format 1).
    Atma,
    /// HIP: algorithm, HIT (hex), public key (base64), rendezvous servers.
    Hip,
    /// DOA data: base64, or `-` for none.
    DoaData,
    /// DSYNC scheme: `NOTIFY` or a number, one octet.
    DsyncScheme,
    /// AMTRELAY's D bit, relay type and relay (RFC 8777).
    AmtRelay,
    /// AMTRELAY and others with a type-selected gateway are not supported in text.
    Opaque,
}

use Field::*;

/// The static description of one type.
pub struct TypeInfo {
    pub code: u16,
    pub name: &'static str,
    pub fields: &'static [Field],
}

macro_rules! types {
    ($( $code:expr, $name:expr, [$($f:expr),*] ;)*) => {
        pub static TYPES: &[TypeInfo] = &[
            $( TypeInfo { code: $code, name: $name, fields: &[$($f),*] }, )*
        ];
    };
}

types! {
    1, "A", [Ipv4];
    2, "NS", [CName];
    3, "MD", [CName];
    4, "MF", [CName];
    5, "CNAME", [CName];
    6, "SOA", [CName, CName, U32, Period, Period, Period, Period];
    7, "MB", [CName];
    8, "MG", [CName];
    9, "MR", [CName];
    10, "NULL", [Opaque];
    11, "WKS", [Wks];
    12, "PTR", [CName];
    13, "HINFO", [Str, Str];
    14, "MINFO", [CName, CName];
    15, "MX", [U16, CName];
    16, "TXT", [Strs];
    17, "RP", [Name, Name];
    18, "AFSDB", [U16, Name];
    19, "X25", [Str];
    20, "ISDN", [Strs];
    21, "RT", [U16, Name];
    22, "NSAP", [Nsap];
    34, "ATMA", [Atma];
    23, "NSAP-PTR", [Name];
    24, "SIG", [Type, Alg, U8, U32, Time, Time, U16, Name, Base64];
    25, "KEY", [U16, U8, Alg, Base64];
    26, "PX", [U16, Name, Name];
    27, "GPOS", [Str, Str, Str];
    28, "AAAA", [Ipv6];
    29, "LOC", [Loc];
    30, "NXT", [Name, Bitmap];
    31, "EID", [Hex];
    32, "NIMLOC", [Hex];
    33, "SRV", [U16, U16, U16, Name];
    35, "NAPTR", [U16, U16, Str, Str, Str, Name];
    36, "KX", [U16, Name];
    37, "CERT", [CertType, U16, CertAlg, Base64];
    39, "DNAME", [Name];
    40, "SINK", [U8, U8, U8, Base64];
    42, "APL", [Apl];
    43, "DS", [U16, Alg, U8, Hex];
    44, "SSHFP", [U8, U8, Hex];
    45, "IPSECKEY", [IpsecKey];
    46, "RRSIG", [Type, Alg, U8, U32, Time, Time, U16, Name, Base64];
    47, "NSEC", [Name, Bitmap];
    48, "DNSKEY", [U16, U8, Alg, Base64];
    49, "DHCID", [Base64];
    50, "NSEC3", [U8, U8, U16, Salt, Base32, Bitmap];
    51, "NSEC3PARAM", [U8, U8, U16, Salt];
    52, "TLSA", [U8, U8, U8, Hex];
    53, "SMIMEA", [U8, U8, U8, Hex];
    55, "HIP", [Hip];
    56, "NINFO", [Strs];
    57, "RKEY", [U16, U8, Alg, Base64];
    58, "TALINK", [Name, Name];
    59, "CDS", [U16, Alg, U8, Hex];
    60, "CDNSKEY", [U16, U8, Alg, Base64];
    61, "OPENPGPKEY", [Base64];
    62, "CSYNC", [U32, U16, Bitmap];
    63, "ZONEMD", [U32, U8, U8, Hex];
    64, "SVCB", [U16, Name, Svcb];
    65, "HTTPS", [U16, Name, Svcb];
    66, "DSYNC", [Type, DsyncScheme, U16, Name];
    67, "HHIT", [Base64];
    68, "BRID", [Base64];
    99, "SPF", [Strs];
    104, "NID", [U16, Locator64];
    105, "L32", [U16, Ipv4];
    106, "L64", [U16, Locator64];
    107, "LP", [U16, Name];
    108, "EUI48", [Eui48];
    109, "EUI64", [Eui64];
    249, "TKEY", [Opaque];
    250, "TSIG", [Opaque];
    251, "IXFR", [Opaque];
    252, "AXFR", [Opaque];
    253, "MAILB", [Opaque];
    254, "MAILA", [Opaque];
    255, "ANY", [Opaque];
    256, "URI", [U16, U16, Rest];
    257, "CAA", [U8, CaaTag, Rest];
    258, "AVC", [Strs];
    259, "DOA", [U32, U32, U8, Str, DoaData];
    260, "AMTRELAY", [U8, AmtRelay];
    261, "RESINFO", [Strs];
    262, "WALLET", [Strs];
    32768, "TA", [U16, Alg, U8, Hex];
    32769, "DLV", [U16, Alg, U8, Hex];
    41, "OPT", [Opaque];
}

impl Rtype {
    pub const A: Rtype = Rtype(1);
    pub const NS: Rtype = Rtype(2);
    pub const CNAME: Rtype = Rtype(5);
    pub const SOA: Rtype = Rtype(6);
    pub const PTR: Rtype = Rtype(12);
    pub const HINFO: Rtype = Rtype(13);
    pub const MX: Rtype = Rtype(15);
    pub const TXT: Rtype = Rtype(16);
    pub const AAAA: Rtype = Rtype(28);
    pub const SRV: Rtype = Rtype(33);
    pub const NAPTR: Rtype = Rtype(35);
    pub const DNAME: Rtype = Rtype(39);
    pub const OPT: Rtype = Rtype(41);
    pub const DS: Rtype = Rtype(43);
    pub const RRSIG: Rtype = Rtype(46);
    pub const NSEC: Rtype = Rtype(47);
    pub const DNSKEY: Rtype = Rtype(48);
    pub const NSEC3: Rtype = Rtype(50);
    pub const NSEC3PARAM: Rtype = Rtype(51);
    pub const CDS: Rtype = Rtype(59);
    pub const CDNSKEY: Rtype = Rtype(60);
    pub const ZONEMD: Rtype = Rtype(63);
    pub const SVCB: Rtype = Rtype(64);
    pub const HTTPS: Rtype = Rtype(65);
    pub const SPF: Rtype = Rtype(99);
    pub const TKEY: Rtype = Rtype(249);
    pub const TSIG: Rtype = Rtype(250);
    pub const IXFR: Rtype = Rtype(251);
    pub const AXFR: Rtype = Rtype(252);
    pub const MAILB: Rtype = Rtype(253);
    pub const MAILA: Rtype = Rtype(254);
    pub const ANY: Rtype = Rtype(255);
    pub const CAA: Rtype = Rtype(257);

    /// The static description, if the type is known.
    pub fn info(self) -> Option<&'static TypeInfo> {
        // Types are few; a linear scan of a static table is cheap at load time.
        TYPES.iter().find(|t| t.code == self.0)
    }

    /// Parses a mnemonic or `TYPEn` (case-insensitive).
    pub fn parse(s: &[u8]) -> Option<Rtype> {
        // The common types first, without scanning the table: this runs once per record.
        let mut up = [0u8; 4];
        if s.len() <= 4 {
            for (d, c) in up.iter_mut().zip(s) {
                *d = c.to_ascii_uppercase();
            }
            let hit = match &up[..s.len()] {
                b"A" => Some(1),
                b"NS" => Some(2),
                b"MX" => Some(15),
                b"TXT" => Some(16),
                b"AAAA" => Some(28),
                b"SOA" => Some(6),
                b"PTR" => Some(12),
                b"SRV" => Some(33),
                b"DS" => Some(43),
                _ => None,
            };
            if let Some(c) = hit {
                return Some(Rtype(c));
            }
        }
        if s.len() > 4 && s[..4].eq_ignore_ascii_case(b"TYPE") {
            if let Some(n) = parse_u16_strict(&s[4..]) {
                return Some(Rtype(n));
            }
        }
        TYPES
            .iter()
            .find(|t| t.name.as_bytes().eq_ignore_ascii_case(s))
            .map(|t| Rtype(t.code))
    }

    /// Meta types and QTYPEs that cannot appear in a zone (RFC 6895 §3.1).
    pub fn is_meta(self) -> bool {
        matches!(self.0, 41 | 128..=255)
    }

    /// True for types whose rdata names are compressed in answers (RFC 3597 §4).
    pub fn compressible(self) -> bool {
        matches!(self.0, 2..=9 | 12 | 14 | 15)
    }
}

impl fmt::Display for Rtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(i) if !matches!(i.fields, [Opaque]) || self.0 == 10 => f.write_str(i.name),
            Some(i) if self.is_meta() => f.write_str(i.name),
            _ => write!(f, "TYPE{}", self.0),
        }
    }
}

impl fmt::Debug for Rtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// DNSSEC algorithm mnemonics (RFC 8624 and the IANA registry) accepted in text.
pub static ALGORITHMS: &[(u8, &str)] = &[
    (1, "RSAMD5"),
    (2, "DH"),
    (3, "DSA"),
    (5, "RSASHA1"),
    (6, "NSEC3DSA"),
    (7, "NSEC3RSASHA1"),
    (8, "RSASHA256"),
    (10, "RSASHA512"),
    (12, "ECCGOST"),
    (13, "ECDSAP256SHA256"),
    (14, "ECDSAP384SHA384"),
    (15, "ED25519"),
    (16, "ED448"),
    (252, "INDIRECT"),
    (253, "PRIVATEDNS"),
    (254, "PRIVATEOID"),
];

/// CERT type mnemonics (RFC 4398 §2.1).
pub static CERT_TYPES: &[(u16, &str)] = &[
    (1, "PKIX"),
    (2, "SPKI"),
    (3, "PGP"),
    (4, "IPKIX"),
    (5, "ISPKI"),
    (6, "IPGP"),
    (7, "ACPKIX"),
    (8, "IACPKIX"),
    (253, "URI"),
    (254, "OID"),
];
