//! Printing a zone in presentation format, one record per line.

use crate::model::{flags, Zone};
use crate::name::Name;
use crate::rdata::write_rdata;
use crate::types::Rtype;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Writes every record of `zone` as `owner TTL CLASS TYPE rdata`, absolute names,
/// in canonical order with the SOA first.
pub fn write_zone(zone: &Zone, out: &mut impl Write) -> io::Result<()> {
    write_zone_marked(zone, out, &|_, _, _| None)
}

/// Gives the note to print after a record, if any.
pub type Mark<'a> = &'a dyn Fn(&Name, Rtype, &[u8]) -> Option<String>;

/// [`write_zone`], ending each record for which `mark(owner, type, rdata)` gives a note
/// with `; note` (a comment, so the output stays readable by BIND).
pub fn write_zone_marked(zone: &Zone, out: &mut impl Write, mark: Mark<'_>) -> io::Result<()> {
    write_lines(zone.nodes(), zone.class(), Some(mark), |line| {
        out.write_all(line.as_bytes())
    })
}

/// Appends the records of `nodes` (a run of one zone's nodes, in order) to `out` in the
/// form of [`write_zone`], so that a large zone can be printed in parts on several
/// threads and the parts written in order.
pub fn write_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a crate::model::Node>,
    class: crate::types::Class,
    out: &mut Vec<u8>,
) {
    let _ = write_lines(nodes, class, None, |line| {
        out.extend_from_slice(line.as_bytes());
        Ok(())
    });
}

/// The one place records are turned into lines: each line goes to `emit`.
fn write_lines<'a>(
    nodes: impl IntoIterator<Item = &'a crate::model::Node>,
    class: crate::types::Class,
    mark: Option<Mark<'_>>,
    mut emit: impl FnMut(&str) -> io::Result<()>,
) -> io::Result<()> {
    let mut line = String::with_capacity(256);
    let mut owner = String::with_capacity(256);
    let class = class.to_string();
    for node in nodes {
        if node.has(flags::ENT) {
            continue;
        }
        owner.clear();
        let _ = write!(owner, "{}", node.name);
        let soa_first = node
            .rrset(Rtype::SOA)
            .into_iter()
            .chain(node.rrsets.iter().filter(|r| r.rtype != Rtype::SOA));
        for rrset in soa_first {
            for rd in rrset.rdatas() {
                line.clear();
                let _ = write!(
                    line,
                    "{}\t{}\t{}\t{}\t",
                    owner, rrset.ttl, class, rrset.rtype
                );
                write_rdata(&mut line, rrset.rtype, rd);
                if let Some(note) = mark.and_then(|m| m(&node.name, rrset.rtype, rd)) {
                    let _ = write!(line, " ; {note}");
                }
                line.push('\n');
                emit(&line)?;
            }
        }
    }
    Ok(())
}
