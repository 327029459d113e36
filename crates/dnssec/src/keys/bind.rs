//! BIND key files: `K<zone>+<alg>+<tag>.key` (the DNSKEY record) and `.private`
//! (Private-key-format v1.3), read and written so a BIND user keeps the DS at the
//! parent. Writes are atomic (temporary file, fsync, rename); `.private` is 0600.

use super::{kerr, Algorithm, Key, KeyError, Material, RsaParts, Secret};
use blason_zone::encoding::base64_decode;
use blason_zone::encoding::base64_encode;
use blason_zone::rdata::format_time;
use blason_zone::Name;
use std::fs;
use std::path::{Path, PathBuf};

/// `K<zone>.+<alg>+<tag>` for a key of zone `origin`, as BIND names it: the zone in
/// lower case with its final dot (`Kexample.com.+013+12345`; the root zone is `K.`).
pub fn bind_base_name(origin: &Name, key: &Key) -> String {
    format!(
        "K{}+{:03}+{:05}",
        origin.to_lowercase(),
        key.algorithm.number(),
        key.tag
    )
}

/// The paths a key was written to.
pub struct BindFiles {
    pub key: PathBuf,
    pub private: PathBuf,
}

/// Reads a key from its `.key` path or its `.private` path or the base path without
/// extension. The owner in the `.key` file must be `origin`.
pub fn read_bind(origin: &Name, path: &Path) -> Result<Key, KeyError> {
    let s = path.to_string_lossy();
    let base = s
        .strip_suffix(".key")
        .or_else(|| s.strip_suffix(".private"))
        .unwrap_or(&s);
    let key_path = PathBuf::from(format!("{base}.key"));
    let priv_path = PathBuf::from(format!("{base}.private"));
    let key_text = fs::read_to_string(&key_path)
        .map_err(|e| KeyError(format!("cannot read {}: {e}", key_path.display())))?;
    let priv_text = fs::read_to_string(&priv_path)
        .map_err(|e| KeyError(format!("cannot read {}: {e}", priv_path.display())))?;
    parse_bind(origin, &key_text, &priv_text)
        .map_err(|e| KeyError(format!("{}: {}", key_path.display(), e.0)))
}

/// Reads every `K*.key` with a matching `.private` in `dir` whose owner is `origin`.
/// Keys of other zones are skipped; a broken key file of this zone is an error.
pub fn read_bind_dir(origin: &Name, dir: &Path) -> Result<Vec<Key>, KeyError> {
    // BIND writes the final dot (`Kexample.+`); files named without it are read too.
    let with_dot = format!("K{}+", origin.to_lowercase()).to_ascii_lowercase();
    let without = {
        let mut z = origin.to_lowercase().to_string();
        if z.len() > 1 {
            z.pop();
        }
        format!("K{z}+").to_ascii_lowercase()
    };
    let rd = fs::read_dir(dir)
        .map_err(|e| KeyError(format!("cannot read key folder {}: {e}", dir.display())))?;
    let mut names: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let f = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
            let l = f.to_ascii_lowercase();
            (l.starts_with(&with_dot) || l.starts_with(&without)) && f.ends_with(".key")
        })
        .collect();
    names.sort();
    names.iter().map(|p| read_bind(origin, p)).collect()
}

/// Parses the texts of a `.key` and a `.private` file (as read by [`read_bind`]).
pub fn parse_bind(origin: &Name, key_text: &str, priv_text: &str) -> Result<Key, KeyError> {
    // The .key file: comment lines, then `owner [ttl] [class] DNSKEY flags 3 alg key`.
    let mut rec: Option<(u16, u8, Vec<u8>)> = None;
    for line in key_text.lines() {
        let line = line.split(';').next().unwrap_or("");
        let toks: Vec<&str> = line.split_whitespace().collect();
        let Some(ti) = toks.iter().position(|t| t.eq_ignore_ascii_case("DNSKEY")) else {
            continue;
        };
        let owner = Name::parse(toks[0], None)
            .map_err(|e| KeyError(format!("bad owner '{}': {e}", toks[0])))?;
        if owner != *origin {
            return kerr(format!("the key is for {owner}, not {origin}"));
        }
        if toks.len() < ti + 5 {
            return kerr("DNSKEY record is incomplete");
        }
        let flags: u16 = toks[ti + 1]
            .parse()
            .map_err(|_| KeyError("bad DNSKEY flags".into()))?;
        if toks[ti + 2] != "3" {
            return kerr("DNSKEY protocol is not 3");
        }
        let alg: u8 = toks[ti + 3]
            .parse()
            .map_err(|_| KeyError("bad DNSKEY algorithm".into()))?;
        let b: String = toks[ti + 4..].concat();
        let mut public = Vec::new();
        base64_decode(b.as_bytes(), &mut public)
            .map_err(|e| KeyError(format!("bad DNSKEY public key: {e}")))?;
        rec = Some((flags, alg, public));
        break;
    }
    let Some((flags, alg_n, public)) = rec else {
        return kerr("no DNSKEY record in the .key file");
    };
    let algorithm = Algorithm::from_number(alg_n).ok_or_else(|| {
        KeyError(format!(
            "algorithm {alg_n} is not supported (8, 13, 15 are)"
        ))
    })?;

    // The .private file: `Field: value` lines.
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in priv_text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    match get("Private-key-format") {
        Some(v) if v.starts_with("v1.") => {}
        Some(v) => return kerr(format!("unsupported Private-key-format {v}")),
        None => return kerr("the .private file has no Private-key-format line"),
    }
    let palg: u8 = get("Algorithm")
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| KeyError("the .private file has no Algorithm line".into()))?;
    if palg != alg_n {
        return kerr(format!(
            "the .private file is for algorithm {palg}, the .key file for {alg_n}"
        ));
    }
    let b64 = |k: &str| -> Result<Secret, KeyError> {
        let v = get(k).ok_or_else(|| KeyError(format!("the .private file has no {k} line")))?;
        let mut out = Vec::new();
        base64_decode(v.as_bytes(), &mut out).map_err(|e| KeyError(format!("bad {k}: {e}")))?;
        Ok(Secret(out))
    };
    let created = get("Created").and_then(parse_time);
    match algorithm {
        Algorithm::EcdsaP256Sha256 | Algorithm::Ed25519 => {
            let s = b64("PrivateKey")?;
            Key::from_scalar(algorithm, flags, &s.0, &public, created)
        }
        Algorithm::RsaSha256 => {
            let parts = RsaParts {
                n: b64("Modulus")?,
                e: b64("PublicExponent")?,
                d: b64("PrivateExponent")?,
                p: b64("Prime1")?,
                q: b64("Prime2")?,
                dp: b64("Exponent1")?,
                dq: b64("Exponent2")?,
                qinv: b64("Coefficient")?,
            };
            let k = Key::from_rsa_parts(parts, flags, created)?;
            if k.public != public {
                return kerr("the .private and .key files hold different keys");
            }
            Ok(k)
        }
    }
}

/// `YYYYMMDDHHMMSS` (UTC) to seconds since the epoch.
pub fn parse_time(s: &str) -> Option<u64> {
    let s = s.split_whitespace().next()?;
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(4, 6)?, n(6, 8)?);
    let (hh, mm, ss) = (n(8, 10)?, n(10, 12)?, n(12, 14)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

fn time_text(t: u64) -> String {
    let mut s = String::new();
    format_time(t.min(u32::MAX as u64) as u32, &mut s);
    s
}

/// Writes `key` as `K<zone>+<alg>+<tag>.key` and `.private` in `dir` (created if
/// missing, 0700). Each file is written atomically; `.private` is 0600 from the start.
pub fn write_bind(origin: &Name, key: &Key, dir: &Path) -> Result<BindFiles, KeyError> {
    let io = |e: std::io::Error| KeyError(format!("cannot write keys to {}: {e}", dir.display()));
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io)?;
    }
    let base = bind_base_name(origin, key);
    let kind = if key.is_sep() {
        "key-signing"
    } else {
        "zone-signing"
    };
    let mut pubkey = String::new();
    base64_encode(&key.public, &mut pubkey);
    let mut kt = format!(
        "; This is a {kind} key, keyid {}, for {}\n",
        key.tag,
        origin.to_lowercase()
    );
    if let Some(c) = key.created {
        kt.push_str(&format!("; Created: {}\n", time_text(c)));
    }
    kt.push_str(&format!(
        "{} IN DNSKEY {} 3 {} {}\n",
        origin.to_lowercase(),
        key.flags,
        key.algorithm.number(),
        pubkey
    ));
    let mut pt = String::from("Private-key-format: v1.3\n");
    pt.push_str(&format!(
        "Algorithm: {} ({})\n",
        key.algorithm.number(),
        key.algorithm.mnemonic()
    ));
    let mut field = |name: &str, v: &[u8]| {
        pt.push_str(name);
        pt.push_str(": ");
        base64_encode(v, &mut pt);
        pt.push('\n');
    };
    match &key.private.material {
        Material::Scalar(s) => field("PrivateKey", &s.0),
        Material::Rsa(r) => {
            field("Modulus", &r.n.0);
            field("PublicExponent", &r.e.0);
            field("PrivateExponent", &r.d.0);
            field("Prime1", &r.p.0);
            field("Prime2", &r.q.0);
            field("Exponent1", &r.dp.0);
            field("Exponent2", &r.dq.0);
            field("Coefficient", &r.qinv.0);
        }
    }
    if let Some(c) = key.created {
        let t = time_text(c);
        pt.push_str(&format!("Created: {t}\nPublish: {t}\nActivate: {t}\n"));
    }
    let key_path = dir.join(format!("{base}.key"));
    let priv_path = dir.join(format!("{base}.private"));
    let secret = Secret(pt.into_bytes());
    write_atomic(&priv_path, &secret.0, 0o600).map_err(io)?;
    write_atomic(&key_path, kt.as_bytes(), 0o644).map_err(io)?;
    Ok(BindFiles {
        key: key_path,
        private: priv_path,
    })
}

/// Through the state folder's one durability rule (`blason_store`).
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    blason_store::write_atomic(path, data, mode)
        .map_err(|e| std::io::Error::new(e.source.kind(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip() {
        assert_eq!(parse_time("19700101000000"), Some(0));
        assert_eq!(parse_time("20240229123456"), Some(1709210096));
        assert_eq!(time_text(1709210096), "20240229123456");
    }

    #[test]
    fn write_and_read_back_every_algorithm() {
        let dir = std::env::temp_dir().join(format!("blason-kfile-{}", std::process::id()));
        let origin = Name::parse("Example.", None).unwrap();
        for alg in [
            Algorithm::EcdsaP256Sha256,
            Algorithm::Ed25519,
            Algorithm::RsaSha256,
        ] {
            let mut k = Key::generate(alg, 257, 2048).unwrap();
            k.created = Some(1709210096);
            let files = write_bind(&origin, &k, &dir).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let m = fs::metadata(&files.private).unwrap().permissions().mode();
                assert_eq!(m & 0o777, 0o600);
            }
            let back = read_bind(&origin, &files.key).unwrap();
            assert_eq!(back.public, k.public);
            assert_eq!(back.tag, k.tag);
            assert_eq!(back.flags, 257);
            assert_eq!(back.created, Some(1709210096));
        }
        // A damaged file is an error naming the file, never a silently skipped key.
        let k = Key::generate(Algorithm::EcdsaP256Sha256, 256, 0).unwrap();
        let files = write_bind(&origin, &k, &dir.join("bad")).unwrap();
        let text = fs::read_to_string(&files.private).unwrap();
        let broken = text.replace("PrivateKey: ", "PrivateKey: !");
        fs::write(&files.private, broken).unwrap();
        let e = read_bind_dir(&origin, &dir.join("bad")).unwrap_err();
        assert!(e.0.contains(".key") && e.0.contains("PrivateKey"), "{e}");
        let other_key = Key::generate(Algorithm::EcdsaP256Sha256, 256, 0).unwrap();
        let mut mixed = String::new();
        base64_encode(&other_key.public, &mut mixed);
        let key_text = fs::read_to_string(&files.key).unwrap();
        let mut pk = String::new();
        base64_encode(&k.public, &mut pk);
        fs::write(&files.private, text).unwrap();
        fs::write(&files.key, key_text.replace(&pk, &mixed)).unwrap();
        assert!(read_bind(&origin, &files.key).is_err(), "mismatched halves");
        fs::remove_dir_all(dir.join("bad")).unwrap();

        let all = read_bind_dir(&origin, &dir).unwrap();
        assert_eq!(all.len(), 3);
        let other = Name::parse("other.", None).unwrap();
        assert!(read_bind_dir(&other, &dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
