//! ARC chains (RFC 8617) reported, not sealed: the sets are counted and checked
//! for shape, the newest ARC-Message-Signature and every ARC-Seal verified. ARC is
//! headed for Historic; a receiver still wants to say what a forwarder vouched for.

use crate::authres::AuthResult;
use crate::dkim_sign::relaxed_header;
use crate::dkim_verify::{self, fetch_key, no_ws, verify_with, without_b};
use crate::dns::TxtLookup;
use crate::message::{Field, Message};
use crate::tags;

/// The most ARC sets a chain may hold (RFC 8617 §4.2.1).
pub const MAX_SETS: usize = 50;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// none, pass or fail.
    pub result: AuthResult,
    pub sets: usize,
    /// The sealer of each instance, oldest first (`d=` of its ARC-Seal).
    pub sealers: Vec<String>,
    pub reason: String,
}

fn instance(f: &Field) -> Option<usize> {
    // AAR values are "i=N; authserv-id; ...": the tag list reader stops at the
    // first part that is not a tag, so read the first part alone.
    let first = f.value.split(|&b| b == b';').next()?;
    let t = tags::parse(first).ok()?;
    tags::get(&t, "i")?.trim().parse().ok()
}

/// Validates the ARC chain of `message`.
pub fn validate(message: &Message, dns: &dyn TxtLookup, now: u64) -> Chain {
    let mut chain = Chain {
        result: AuthResult::None,
        sets: 0,
        sealers: Vec::new(),
        reason: String::new(),
    };
    let seals: Vec<&Field> = message.all("arc-seal").collect();
    let sigs: Vec<&Field> = message.all("arc-message-signature").collect();
    let aars: Vec<&Field> = message.all("arc-authentication-results").collect();
    if seals.is_empty() && sigs.is_empty() && aars.is_empty() {
        return chain;
    }
    let n = seals.len();
    chain.sets = n;
    let bad = |mut c: Chain, why: String| {
        c.result = AuthResult::Fail;
        c.reason = why;
        c
    };
    if n > MAX_SETS {
        return bad(chain, format!("{n} ARC sets (at most {MAX_SETS})"));
    }
    // One of each header per instance 1..=n.
    let mut sets: Vec<[Option<&Field>; 3]> = vec![[None; 3]; n];
    for (k, list) in [&aars, &sigs, &seals].iter().enumerate() {
        if list.len() != n {
            return bad(chain, "the ARC sets are incomplete".into());
        }
        for f in list.iter() {
            match instance(f) {
                Some(i) if (1..=n).contains(&i) && sets[i - 1][k].is_none() => {
                    sets[i - 1][k] = Some(f)
                }
                _ => {
                    return bad(
                        chain,
                        "an ARC header has a missing, repeated or out-of-range i=".into(),
                    )
                }
            }
        }
    }
    // cv=none on the first seal, pass on the others (§5.1.1).
    for (i, set) in sets.iter().enumerate() {
        let seal = set[2].expect("filled above");
        let t = tags::parse(&seal.value).unwrap_or_default();
        chain
            .sealers
            .push(tags::get(&t, "d").unwrap_or("").to_ascii_lowercase());
        let cv = tags::get(&t, "cv").unwrap_or("").to_ascii_lowercase();
        let want = if i == 0 { "none" } else { "pass" };
        if cv != want {
            return bad(
                chain,
                format!("ARC-Seal i={} has cv={cv}, not {want}", i + 1),
            );
        }
    }
    // The newest message signature.
    let ams = sets[n - 1][1].expect("filled above");
    let v = dkim_verify::verify_field(message, ams, dns, now, false);
    if v.result != AuthResult::Pass {
        return bad(chain, format!("ARC-Message-Signature i={n}: {}", v.reason));
    }
    // Every seal, over the sets up to its own (§5.1.1, relaxed header canon).
    for i in (0..n).rev() {
        let mut data = Vec::new();
        for (j, set) in sets.iter().enumerate().take(i + 1) {
            for (k, f) in set.iter().enumerate() {
                let f = f.expect("filled above");
                if j == i && k == 2 {
                    data.extend_from_slice(&relaxed_header(&f.name, &without_b(&f.value)));
                } else {
                    data.extend_from_slice(&relaxed_header(&f.name, &f.value));
                    data.extend_from_slice(b"\r\n");
                }
            }
        }
        let seal = sets[i][2].expect("filled above");
        if let Err(why) = check_seal(seal, &data, dns) {
            return bad(chain, format!("ARC-Seal i={}: {why}", i + 1));
        }
    }
    chain.result = AuthResult::Pass;
    chain
}

fn check_seal(seal: &Field, data: &[u8], dns: &dyn TxtLookup) -> Result<(), String> {
    let t = tags::parse(&seal.value).map_err(|e| e.to_string())?;
    let get = |n: &str| tags::get(&t, n).ok_or(format!("{n}= is missing"));
    let a = get("a")?.to_ascii_lowercase();
    let b = crate::b64::decode(no_ws(get("b")?).as_bytes()).ok_or("b= is not base64")?;
    let key = fetch_key(get("d")?, get("s")?, &a, dns).map_err(|(_, why)| why)?;
    verify_with(&key, data, &b).map_err(|(_, why)| why)
}
