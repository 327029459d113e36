//! The `[zone.mail]` and `[[zone.tlsa]]` sections of `blason serve`'s config file,
//! as the operator writes them, and their checks: the settings of the records this
//! crate makes live with it (the CLI only reads the file).

use serde::Deserialize;
use std::path::PathBuf;

/// A zone's `[zone.mail]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailToml {
    /// TTL of the generated records (default 3600).
    pub ttl: Option<u32>,
    pub spf: Option<SpfToml>,
    #[serde(default)]
    pub dkim: Vec<DkimToml>,
    pub dmarc: Option<DmarcToml>,
    pub bimi: Option<BimiToml>,
    #[serde(alias = "mta-sts")]
    pub mta_sts: Option<MtaStsToml>,
    #[serde(alias = "tls-rpt")]
    pub tls_rpt: Option<TlsRptToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpfToml {
    pub senders: Vec<String>,
    /// "-all" (default) or "~all".
    pub all: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimToml {
    pub selector: String,
    /// ed25519 (default), rsa2048, rsa3072 or rsa4096.
    pub algorithm: Option<String>,
    /// Roll the key this often (`90d`): the selector becomes the prefix of a
    /// series `SELECTOR-YYYYMMDD`.
    pub roll: Option<String>,
    /// With `roll`: how long a retired key stays published, then revoked
    /// (default 7d: mail queued elsewhere still verifies).
    #[serde(alias = "keep-retired")]
    pub keep_retired: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmarcToml {
    pub policy: String,
    #[serde(alias = "sp")]
    pub subdomain_policy: Option<String>,
    #[serde(default)]
    pub rua: Vec<String>,
    #[serde(default)]
    pub ruf: Vec<String>,
    pub pct: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BimiToml {
    pub logo: String,
    pub authority: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtaStsToml {
    pub mode: String,
    #[serde(default)]
    pub mx: Vec<String>,
    pub max_age: Option<u64>,
    /// "auto" (default): changes when the policy does.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRptToml {
    pub rua: Vec<String>,
}

/// One `[[zone.tlsa]]` entry: the service and the file its record follows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsaToml {
    pub port: u16,
    pub host: String,
    /// The certificate (PEM) the service uses...
    pub cert: Option<PathBuf>,
    /// ...or its key.
    pub key: Option<PathBuf>,
    /// The key of the next certificate, published ahead of it.
    pub next_key: Option<PathBuf>,
    pub usage: Option<u8>,
    pub selector: Option<u8>,
    #[serde(rename = "match")]
    pub matching: Option<u8>,
    /// TTL of the TLSA records (default 3600); old records stay two TTLs.
    pub ttl: Option<u32>,
}

fn policy(s: &str, what: &str) -> Result<crate::dmarc::Policy, String> {
    crate::dmarc::Policy::parse(s)
        .ok_or_else(|| format!("{what} = {s:?}: use none, quarantine or reject"))
}

impl MailToml {
    pub fn to_spec(&self) -> Result<crate::declare::MailSpec, String> {
        use crate::dkim::Algorithm;
        use crate::mtasts::Mode;
        let dkim = self
            .dkim
            .iter()
            .map(|d| {
                let algorithm = match d.algorithm.as_deref().unwrap_or("ed25519") {
                    "ed25519" => Algorithm::Ed25519,
                    "rsa2048" => Algorithm::Rsa(2048),
                    "rsa3072" => Algorithm::Rsa(3072),
                    "rsa4096" => Algorithm::Rsa(4096),
                    a => {
                        return Err(format!(
                            "mail.dkim algorithm {a:?}: use ed25519, rsa2048, rsa3072 or rsa4096"
                        ))
                    }
                };
                let ok = !d.selector.is_empty()
                    && d.selector.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                    });
                if !ok {
                    return Err(format!(
                        "mail.dkim selector {:?} is not a DNS label",
                        d.selector
                    ));
                }
                let period = |v: &Option<String>, what: &str| -> Result<Option<u64>, String> {
                    v.as_deref()
                        .map(|t| {
                            blason_zone::rdata::parse_ttl(t.as_bytes())
                                .filter(|n| *n > 0)
                                .map(u64::from)
                                .ok_or_else(|| format!("mail.dkim {what} = {t:?}: give a period such as 90d, 12h or 30s"))
                        })
                        .transpose()
                };
                let roll = period(&d.roll, "roll")?;
                let keep = period(&d.keep_retired, "keep-retired")?;
                if keep.is_some() && roll.is_none() {
                    return Err(format!("mail.dkim selector {:?}: keep-retired needs roll", d.selector));
                }
                Ok(crate::declare::DkimSpec {
                    selector: d.selector.clone(),
                    algorithm,
                    roll: roll.map(|lifetime| crate::declare::DkimRoll {
                        lifetime,
                        keep_retired: keep.unwrap_or(7 * 86_400),
                    }),
                })
            })
            .collect::<Result<_, String>>()?;
        let dmarc = match &self.dmarc {
            Some(d) => Some(crate::declare::DmarcSpec {
                policy: policy(&d.policy, "mail.dmarc.policy")?,
                subdomain_policy: d
                    .subdomain_policy
                    .as_deref()
                    .map(|p| policy(p, "mail.dmarc.subdomain_policy"))
                    .transpose()?,
                rua: d.rua.clone(),
                ruf: d.ruf.clone(),
                pct: d.pct,
            }),
            None => None,
        };
        let mta_sts = match &self.mta_sts {
            Some(m) => Some(crate::declare::MtaStsSpec {
                mode: match m.mode.as_str() {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    o => {
                        return Err(format!(
                            "mail.mta_sts.mode {o:?}: use enforce, testing or none"
                        ))
                    }
                },
                mx: m.mx.clone(),
                max_age: m.max_age.unwrap_or(604800),
                id: m.id.clone().unwrap_or_else(|| "auto".into()),
            }),
            None => None,
        };
        Ok(crate::declare::MailSpec {
            ttl: self.ttl.unwrap_or(3600),
            spf: self.spf.as_ref().map(|s| crate::declare::SpfSpec {
                senders: s.senders.clone(),
                all: s.all.clone().unwrap_or_else(|| "-all".into()),
            }),
            dkim,
            dmarc,
            bimi: self.bimi.as_ref().map(|b| crate::declare::BimiSpec {
                logo: b.logo.clone(),
                authority: b.authority.clone(),
            }),
            mta_sts,
            tls_rpt: self.tls_rpt.as_ref().map(|t| t.rua.clone()),
        })
    }
}

impl TlsaToml {
    pub fn to_spec(&self) -> Result<crate::declare::TlsaSpec, String> {
        let file = match (&self.cert, &self.key) {
            (Some(c), None) => c.clone(),
            (None, Some(k)) => k.clone(),
            _ => {
                return Err(format!(
                    "tlsa for {}:{}: give cert = \"FILE\" or key = \"FILE\" (one of them)",
                    self.host, self.port
                ))
            }
        };
        let d = crate::tlsa::Params::default();
        let params = crate::tlsa::Params {
            usage: self.usage.unwrap_or(d.usage),
            selector: self.selector.unwrap_or(d.selector),
            matching: self.matching.unwrap_or(d.matching),
        };
        if params.usage > 3 || params.selector > 1 || params.matching > 2 {
            return Err(format!(
                "tlsa for {}:{}: usage 0-3, selector 0-1, match 0-2",
                self.host, self.port
            ));
        }
        if self.key.is_some() && params.selector == 0 {
            return Err(format!(
                "tlsa for {}:{}: selector 0 needs a certificate, not a key",
                self.host, self.port
            ));
        }
        Ok(crate::declare::TlsaSpec {
            port: self.port,
            host: self.host.clone(),
            file,
            next: self.next_key.clone(),
            params,
            ttl: self.ttl.unwrap_or(3600),
        })
    }
}
