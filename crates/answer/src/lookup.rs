//! Finding where a name lands in a zone (RFC 1034 §4.3.2 step 3, RFC 4592, RFC 6672).

use blason_zone::model::flags;
use blason_zone::name::label_offsets;
use blason_zone::{Rtype, Zone};

/// Where a name lands. Indices are node indices in the zone.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The name exists as authoritative data (or is a delegation point itself).
    Exact(usize),
    /// The name is at or below this delegation point.
    Referral(usize),
    /// The name is below this node, which owns a DNAME.
    Dname(usize),
    /// No such name; the wildcard child of the closest encloser matches.
    Wildcard(usize, usize),
    /// No such name; the closest encloser.
    NxDomain(usize),
}

/// Looks `name` (uncompressed wire, any case, at or below the origin) up in `zone`.
pub fn lookup(zone: &Zone, name: &[u8]) -> Found {
    let nodes = zone.nodes();
    // Fast path: the name exists and nothing above it cuts or rewrites.
    if let Some(i) = zone.find(name) {
        if nodes[i].is_authoritative() {
            return Found::Exact(i);
        }
    }
    let origin_labels = zone.origin().label_count();
    let offs = label_offsets(name);
    let below = offs.len().saturating_sub(origin_labels);
    // Closest encloser: the longest existing ancestor (the apex always exists).
    let mut ce = 0;
    let mut ce_depth = 0; // labels stripped from `name`
    for strip in 1..=below {
        let suffix = if strip == offs.len() {
            &name[name.len() - 1..]
        } else {
            &name[offs.at(strip)..]
        };
        if let Some(i) = zone.find(suffix) {
            ce = i;
            ce_depth = strip;
            break;
        }
    }
    if ce_depth == 0 {
        // Only reached when the exact name exists but is not authoritative.
        ce = zone.find(name).unwrap_or(0);
    }
    let node = nodes.at(ce);
    if !node.is_authoritative() || node.has(flags::DELEGATION) {
        // The highest cut or DNAME above wins: walk up to the apex.
        let mut top = None;
        for strip in ce_depth..=below {
            let suffix = if strip == offs.len() {
                &name[name.len() - 1..]
            } else {
                &name[offs.at(strip)..]
            };
            if let Some(i) = zone.find(suffix) {
                let n = nodes.at(i);
                if n.has(flags::DELEGATION) {
                    top = Some(Found::Referral(i));
                } else if strip > 0 && n.rrset(Rtype::DNAME).is_some() {
                    top = Some(Found::Dname(i));
                }
            }
        }
        if let Some(t) = top {
            return t;
        }
    }
    if ce_depth == 0 {
        return Found::Exact(ce);
    }
    if node.rrset(Rtype::DNAME).is_some() {
        return Found::Dname(ce);
    }
    if node.has(flags::WILDCARD_CHILD) {
        let mut w = [0u8; 256];
        let nw = node.name.as_wire();
        if nw.len() + 2 <= 255 {
            w[0] = 1;
            w[1] = b'*';
            w[2..2 + nw.len()].copy_from_slice(nw);
            if let Some(wi) = zone.find(&w[..2 + nw.len()]) {
                return Found::Wildcard(ce, wi);
            }
        }
    }
    Found::NxDomain(ce)
}
