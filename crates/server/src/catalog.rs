//! The catalog zone (RFC 9432, schema version 2) that lists the zones this server
//! serves, so that BIND and Knot secondaries configured once follow every zone.
//!
//! Design note. The catalog is a zone like any other: its text is made from the
//! configuration at start and it travels the same road (journal, serial forward,
//! IXFR, NOTIFY), so a zone added or removed in the config and a restart reach the
//! consumers as an IXFR of the catalog. Member labels are the SHA-1 of the member's
//! name in lower-case wire form, as BIND names them: stable across restarts.
#![forbid(unsafe_code)]

use blason_zone::encoding::hex_encode;
use blason_zone::Name;
use std::fmt::Write;

/// A zone listed in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub zone: Name,
    /// The `group` property: which template a consumer applies.
    pub group: Option<String>,
    /// The `coo` property: the catalog the zone is moving to.
    pub coo: Option<Name>,
}

/// The member's label under `zones.`.
pub fn member_id(zone: &Name) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &zone.as_wire().to_ascii_lowercase(),
    );
    let mut h = String::new();
    hex_encode(d.as_ref(), &mut h);
    h.to_ascii_lowercase()
}

/// The catalog zone's text: SOA, NS `invalid.`, `version` "2", and a PTR (with its
/// properties) per member.
pub fn text(origin: &Name, members: &[Member]) -> String {
    let o = origin.to_lowercase();
    let mut t = format!(
        "{o} 0 IN SOA invalid. invalid. 1 14400 3600 2419200 300\n\
         {o} 0 IN NS invalid.\n\
         version.{o} 0 IN TXT \"2\"\n"
    );
    for m in members {
        let id = member_id(&m.zone);
        let _ = writeln!(t, "{id}.zones.{o} 0 IN PTR {}", m.zone.to_lowercase());
        if let Some(g) = &m.group {
            let g: String = g.chars().filter(|c| *c != '"' && *c != '\\').collect();
            let _ = writeln!(t, "group.{id}.zones.{o} 0 IN TXT \"{g}\"");
        }
        if let Some(c) = &m.coo {
            let _ = writeln!(t, "coo.{id}.zones.{o} 0 IN PTR {}", c.to_lowercase());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_lists_each_member_once_with_its_properties() {
        let o = Name::parse("catalog.invalid.", None).unwrap();
        let a = Name::parse("Example.COM.", None).unwrap();
        let t = text(
            &o,
            &[Member {
                zone: a.clone(),
                group: Some("standard".into()),
                coo: None,
            }],
        );
        let id = member_id(&a);
        assert_eq!(id.len(), 40);
        assert_eq!(id, member_id(&Name::parse("example.com.", None).unwrap()));
        assert!(t.contains(&format!(
            "{id}.zones.catalog.invalid. 0 IN PTR example.com."
        )));
        assert!(t.contains(&format!(
            "group.{id}.zones.catalog.invalid. 0 IN TXT \"standard\""
        )));
        let l = blason_zone::load::load_bytes(&o, t.as_bytes(), "catalog");
        assert!(!l.has_errors(), "{:?}", l.findings);
    }
}
