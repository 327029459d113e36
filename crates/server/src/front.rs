//! What happens to a plain query between the socket and the answer crate, for UDP
//! and TCP alike: counting, the DNS cookie, the UDP size bound for unproven
//! clients, and the rate limit.
#![forbid(unsafe_code)]

use crate::cookie::{self, Verdict};
use crate::rrl::{self, Action};
use crate::stats::{self, Counters};
use crate::Shared;
use blason_answer::{respond_to, Catalog, Extras, Incoming, Transport};
use std::net::SocketAddr;
use std::sync::Arc;

/// One query path's own state: a UDP worker's, or a TCP connection's.
pub(crate) struct Front {
    pub counters: Arc<Counters>,
    keys: Option<(u64, cookie::Keys)>,
    slips: u32,
}

impl Front {
    pub fn new(counters: Arc<Counters>) -> Front {
        Front {
            counters,
            keys: None,
            slips: 0,
        }
    }

    /// Answers the plain query `query` (read as `seen`) into `out`; false when
    /// nothing is to be sent: dropped by the rate limit, or left to the caller
    /// (signed, a transfer).
    #[allow(clippy::too_many_arguments)]
    pub fn answer(
        &mut self,
        shared: &Shared,
        cat: &Catalog,
        query: &[u8],
        seen: &Incoming,
        peer: Option<SocketAddr>,
        transport: Transport,
        now: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let c = &*self.counters;
        let q = match seen {
            Incoming::Ignore => return false,
            Incoming::Bad(..) => {
                // A malformed query's answer is no bigger than the query: not limited.
                c.query(query, None);
                let send = respond_to(cat, query, seen, transport, &Extras::default(), out);
                if send {
                    c.response(stats::rcode_of(out, None));
                }
                return send;
            }
            Incoming::Query(q) => q,
        };
        c.query(query, Some(q.qtype));
        let mut x = Extras::default();
        let mut reply_cookie = [0u8; 40];
        let mut verified = false;
        if let (Some((at, len)), Some(peer), Some(secrets)) = (q.cookie, peer, &shared.cookies) {
            let keys = match self.keys {
                Some((t, k)) if t == now => k,
                _ => {
                    let k = secrets.at(now);
                    self.keys = Some((now, k));
                    k
                }
            };
            let (v, n) = cookie::check(
                &query[at..at + len],
                peer.ip(),
                now,
                &keys,
                &mut reply_cookie,
            );
            c.inc(match v {
                Verdict::ClientOnly => &c.cookie_client_only,
                Verdict::Valid => &c.cookie_valid,
                Verdict::Invalid => &c.cookie_invalid,
            });
            verified = v == Verdict::Valid;
            x.cookie = Some(&reply_cookie[..n]);
        }
        let limited = match (transport, &shared.rrl, peer) {
            (Transport::Udp, Some(r), Some(p)) if !verified && !r.exempt(p.ip()) => Some((r, p)),
            _ => None,
        };
        if transport == Transport::Udp && !verified {
            x.udp_cap = shared.udp_unverified_max;
        }
        let wildcard = std::cell::Cell::new(None);
        if limited.is_some() {
            x.wildcard = Some(&wildcard);
        }
        if !respond_to(cat, query, seen, transport, &x, out) {
            return false;
        }
        if let Some((r, p)) = limited {
            match r.account(p.ip(), query, q, out, wildcard.get(), now, &mut self.slips) {
                Action::Send => {}
                Action::Logged => c.inc(&c.rrl_would),
                Action::Drop => {
                    c.inc(&c.rrl_dropped);
                    return false;
                }
                Action::Slip => {
                    c.inc(&c.rrl_slipped);
                    if q.cookie.is_some() && x.cookie.is_some() {
                        // A client that speaks cookies gets one to come back with
                        // (RFC 7873 §5.4), in a message about the size of its query.
                        blason_answer::bad_cookie(query, q, &x, out);
                        c.response(23);
                    } else {
                        rrl::slip_response(query, q, out);
                        c.response(0);
                    }
                    return true;
                }
            }
        }
        let ext = q.edns.filter(|e| e.version != 0).map(|_| 16);
        c.response(stats::rcode_of(out, ext));
        true
    }
}
