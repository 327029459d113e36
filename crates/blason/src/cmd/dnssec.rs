//! `blason dnssec sign` and `blason dnssec ds`: offline signing and the records to give
//! the parent. The clock is read here, never in the library.
use crate::cmd::exit::{Exit, Failed};
use crate::cmd::zone::parse_origin;
use blason_dnssec::keys::{
    read_bind_dir, write_bind, Algorithm, DigestType, Key, FLAG_SEP, FLAG_ZONE,
};
use blason_dnssec::sign::{sign_zone, Denial, Nsec3Params, SignOptions, Validity, ZoneKeys};
use blason_zone::encoding::{base64_encode, hex_encode};
use blason_zone::load::load;
use blason_zone::Name;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Subcommand)]
pub enum DnssecCmd {
    /// Sign a zone file offline, like dnssec-signzone: NSEC or NSEC3 chain and RRSIGs
    /// over every authoritative RRset.
    ///
    /// Keys are read from --keys (BIND K<zone>+<alg>+<tag>.key/.private files); when
    /// the folder has none for the zone, a KSK and a ZSK (or one CSK with --csk) are
    /// generated there. Without --keys, new keys are made in a new folder under the
    /// temporary folder (its name is printed), since offline signing without kept keys
    /// only suits tests and benchmarks.
    ///
    /// Example: blason dnssec sign example.com db.example.com -o db.example.com.signed
    Sign(SignArgs),
    /// Print the DS (SHA-256) and DNSKEY records of the zone's key-signing keys, as the
    /// parent zone or the registrar wants them.
    ///
    /// Example: blason dnssec ds example.com --keys /var/lib/blason/keys
    /// Example: blason dnssec ds example.com --state /var/lib/blason
    Ds(DsArgs),
    /// Show the zone's keys, each record's phase, the roll in progress and its stage,
    /// what `blason serve` does next and when, and what it waits for.
    #[command(after_long_help = crate::cmd::roll::STATUS_HELP)]
    Status(crate::cmd::roll::Place),
    /// Ask the running `blason serve` to roll a key now (ZSK, KSK or CSK).
    #[command(after_long_help = crate::cmd::roll::ROLL_HELP)]
    Roll(crate::cmd::roll::RollArgs),
    /// Tell the running `blason serve` that the parent now publishes the DS it waits
    /// for (zones without `dnssec-parent`).
    #[command(name = "ds-seen", after_long_help = crate::cmd::roll::DS_SEEN_HELP)]
    DsSeen(crate::cmd::roll::Place),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum NsecMode {
    Nsec,
    Nsec3,
}

#[derive(Args)]
pub struct SignArgs {
    /// The zone's origin, e.g. example.com
    origin: String,
    /// The zone file (BIND format)
    file: PathBuf,
    /// Where to write the signed zone ('-' for standard output; default FILE.signed)
    #[arg(short = 'o', long)]
    out: Option<PathBuf>,
    /// Use NSEC3 (RFC 9276: SHA-1, no extra iterations, empty salt) instead of NSEC
    #[arg(long)]
    nsec3: bool,
    /// nsec or nsec3 (the same as --nsec3)
    #[arg(long, value_enum)]
    nsec_mode: Option<NsecMode>,
    /// NSEC3 opt-out: leave insecure delegations out of the chain
    #[arg(long)]
    opt_out: bool,
    /// Algorithm of generated keys: ecdsap256 (13), ed25519 (15) or rsasha256 (8)
    #[arg(long, default_value = "ecdsap256")]
    algorithm: String,
    /// RSA modulus size of generated keys
    #[arg(long, default_value_t = 2048)]
    rsa_bits: usize,
    /// Generate one combined signing key instead of a KSK and a ZSK
    #[arg(long)]
    csk: bool,
    /// Folder of BIND key files (read, or written if it holds no key of the zone)
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Signing threads (0: one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Signature validity after the inception, e.g. 14d, 36h, 3600
    #[arg(long, default_value = "14d")]
    validity: String,
    /// Signature inception: YYYYMMDDHHMMSS (UTC), seconds since the epoch, or 'now'
    /// minus a duration such as 'now-1h' (default: one hour ago, for clock skew)
    #[arg(long)]
    inception: Option<String>,
    /// Spread expirations over this much before the end of validity, e.g. 1d
    #[arg(long, default_value = "0")]
    jitter: String,
    /// Publish CDS and CDNSKEY records for the key-signing keys (RFC 7344)
    #[arg(long)]
    cds: bool,
}

#[derive(Args)]
pub struct DsArgs {
    /// The zone's origin, e.g. example.com
    origin: String,
    /// Folder of BIND key files
    #[arg(long, required_unless_present = "state", conflicts_with = "state")]
    keys: Option<PathBuf>,
    /// blason's state folder (as given to `blason serve --state`): the KSKs or CSKs its
    /// key state names (every key file in <zone>/keys when there is no key state yet)
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Also print the SHA-384 DS
    #[arg(long)]
    sha384: bool,
}

pub fn run(c: DnssecCmd) -> ExitCode {
    let r = match c {
        DnssecCmd::Sign(a) => sign(a),
        DnssecCmd::Ds(a) => ds(a),
        DnssecCmd::Status(a) => crate::cmd::roll::status(a),
        DnssecCmd::Roll(a) => crate::cmd::roll::roll_cmd(a),
        DnssecCmd::DsSeen(a) => crate::cmd::roll::ds_seen(a),
    };
    match r {
        Ok(()) => Exit::Ok.into(),
        Err(e) => e.report("blason"),
    }
}

/// Parses `14d`, `36h`, `90m`, `2w`, `3600s` or plain seconds.
pub fn parse_duration(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration '{s}' (e.g. 14d, 36h, 3600)"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(format!("bad duration unit in '{s}' (s, m, h, d, w)")),
    };
    u32::try_from(n * mult).map_err(|_| format!("duration '{s}' is too long"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn parse_when(s: &str, now: u64) -> Result<u32, String> {
    if let Some(rest) = s.strip_prefix("now") {
        let t = if let Some(d) = rest.strip_prefix('-') {
            now.saturating_sub(parse_duration(d)? as u64)
        } else if let Some(d) = rest.strip_prefix('+') {
            now + parse_duration(d)? as u64
        } else if rest.is_empty() {
            now
        } else {
            return Err(format!("bad time '{s}'"));
        };
        return Ok(t as u32);
    }
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        let t = blason_dnssec::keys::parse_bind_time(s).ok_or(format!("bad time '{s}'"))?;
        return Ok(t as u32);
    }
    s.parse::<u32>()
        .map_err(|_| format!("bad time '{s}' (YYYYMMDDHHMMSS, seconds, or now-1h)"))
}

/// Reads the zone's keys from `dir`, or generates and stores them there if it has none.
fn keys_for(origin: &Name, dir: &Path, a: &SignArgs) -> Result<Vec<Key>, String> {
    if dir.is_dir() {
        let keys = read_bind_dir(origin, dir).map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            return Ok(keys);
        }
    }
    let alg = Algorithm::parse(&a.algorithm).ok_or_else(|| {
        format!(
            "unknown algorithm '{}' (ecdsap256, ed25519, rsasha256)",
            a.algorithm
        )
    })?;
    let created = Some(now());
    let mut keys = Vec::new();
    let roles: &[u16] = if a.csk {
        &[FLAG_ZONE | FLAG_SEP]
    } else {
        &[FLAG_ZONE | FLAG_SEP, FLAG_ZONE]
    };
    for &flags in roles {
        let mut k = Key::generate(alg, flags, a.rsa_bits).map_err(|e| e.to_string())?;
        k.created = created;
        let f = write_bind(origin, &k, dir).map_err(|e| e.to_string())?;
        eprintln!("blason: generated {} key {}", alg, f.key.display());
        keys.push(k);
    }
    Ok(keys)
}

fn sign(a: SignArgs) -> Result<(), Failed> {
    let origin = parse_origin(&a.origin)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let mut p = a.file.clone().into_os_string();
        p.push(".signed");
        PathBuf::from(p)
    });
    // Without --keys, new keys go to a fresh folder under the system's temporary
    // folder (named on stderr), not beside OUT, where tools that list the output
    // folder (the benchmark harness) expect zone files only.
    let key_dir = a.keys.clone().unwrap_or_else(|| {
        let mut z = origin.to_lowercase().to_string();
        z.retain(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let z = z.trim_end_matches('.');
        std::env::temp_dir().join(format!("blason-keys-{z}-{}-{}", now(), std::process::id()))
    });
    let now = now();
    let inception = match &a.inception {
        Some(s) => parse_when(s, now)?,
        None => now.saturating_sub(3600) as u32,
    };
    let validity = parse_duration(&a.validity)?;
    let jitter = parse_duration(&a.jitter)?;
    if jitter >= validity {
        return Err("--jitter must be shorter than --validity".into());
    }
    let nsec3 = a.nsec3 || a.nsec_mode == Some(NsecMode::Nsec3);
    let denial = if nsec3 {
        Denial::Nsec3(Nsec3Params {
            opt_out: a.opt_out,
            ..Nsec3Params::default()
        })
    } else {
        Denial::Nsec
    };

    // BLASON_TIMING=1 prints the time of each phase (for benchmarks).
    let timing = std::env::var_os("BLASON_TIMING").is_some_and(|v| v != "0");
    let t0 = std::time::Instant::now();
    let phase = |what: &str| {
        if timing {
            eprintln!("blason: {what} at {:.3} s", t0.elapsed().as_secs_f64());
        }
    };
    let keys = keys_for(&origin, &key_dir, &a)?;
    phase("keys");
    let loaded = load(&origin, &a.file).map_err(|e| Failed::of(&e))?;
    if loaded.has_errors() {
        for f in loaded.findings.iter().filter(|f| f.is_error()) {
            eprintln!("{f}");
        }
        return Err(Failed::input(format!(
            "{} has errors; fix them before signing",
            a.file.display()
        )));
    }
    let mut opts = SignOptions::new(
        denial,
        Validity {
            inception,
            expiration: inception.wrapping_add(validity),
            jitter,
        },
    );
    opts.threads = a.threads;
    opts.cds = a.cds;
    let zk = ZoneKeys::by_flags(&keys);
    phase("loaded");
    let signed = sign_zone(&loaded.zone, &zk, &opts).map_err(|e| Failed::of(&e))?;
    phase("signed");

    let text = print_parallel(&signed.zone, a.threads);
    phase("printed");
    if out.as_os_str() == "-" {
        let mut w = std::io::stdout().lock();
        for part in &text {
            w.write_all(part).map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())?;
    } else {
        write_file_atomic(&out, |w| {
            for part in &text {
                w.write_all(part)?;
            }
            Ok(())
        })
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    phase("written");
    eprintln!(
        "blason: signed {} with {} key(s): {} RRSIG, {} NSEC, {} NSEC3",
        origin,
        keys.len(),
        signed.stats.rrsigs,
        signed.stats.nsec,
        signed.stats.nsec3
    );
    Ok(())
}

/// Formats the zone in parts on `threads` threads (0: one per core); the parts
/// concatenated are `write_zone`'s output.
fn print_parallel(zone: &blason_zone::Zone, threads: usize) -> Vec<Vec<u8>> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let nodes = zone.nodes();
    let size = (nodes.len() / (threads * 8)).max(1024);
    let chunks: Vec<blason_zone::Nodes<'_>> = nodes.chunks(size).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<std::sync::OnceLock<Vec<u8>>> = (0..chunks.len())
        .map(|_| std::sync::OnceLock::new())
        .collect();
    std::thread::scope(|s| {
        for _ in 0..threads.min(chunks.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(c) = chunks.get(i) else { break };
                let mut buf = Vec::with_capacity(c.len() * 256);
                blason_zone::print::write_nodes(c, zone.class(), &mut buf);
                let _ = parts[i].set(buf);
            });
        }
    });
    parts
        .into_iter()
        .map(|p| p.into_inner().unwrap_or_default())
        .collect()
}

fn write_file_atomic(
    path: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    blason_store::write_atomic_with(path, 0o644, f)
        .map_err(|e| std::io::Error::new(e.source.kind(), e.to_string()))
}

fn ds(a: DsArgs) -> Result<(), Failed> {
    let origin = parse_origin(&a.origin)?;
    let dir = match (&a.keys, &a.state) {
        (Some(k), _) => k.clone(),
        (None, Some(s)) => blason_server::dnssec::key_dir(s, &origin),
        (None, None) => return Err("give --keys DIR or --state DIR".into()),
    };
    // With key state, only the keys it names count (not stray or retired files).
    let keys = match &a.state {
        Some(s)
            if a.keys.is_none()
                && blason_server::dnssec::zone_dir(s, &origin)
                    .join(blason_dnssec::state::FILE)
                    .exists() =>
        {
            match blason_dnssec::state::StateDir::open(s)
                .and_then(|d| d.load(&blason_server::dnssec::zone_key(&origin)))
            {
                Ok(Some(st)) => {
                    let zd = blason_server::dnssec::zone_dir(s, &origin);
                    st.keys
                        .iter()
                        .filter(|k| k.role.is_ksk())
                        .filter_map(|k| k.file.as_ref())
                        .map(|f| {
                            blason_dnssec::keys::read_bind(&origin, &zd.join(f))
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<Vec<Key>, String>>()?
                }
                Ok(None) => read_bind_dir(&origin, &dir).map_err(|e| e.to_string())?,
                Err(e) => return Err(e.to_string().into()),
            }
        }
        _ => read_bind_dir(&origin, &dir).map_err(|e| e.to_string())?,
    };
    if keys.is_empty() {
        return Err(Failed::from(format!(
            "no keys for {origin} in {}",
            dir.display()
        )));
    }
    let sep: Vec<&Key> = if keys.iter().any(|k| k.is_sep()) {
        keys.iter().filter(|k| k.is_sep()).collect()
    } else {
        keys.iter().collect()
    };
    let owner = origin.to_lowercase();
    for k in sep {
        let mut digests = vec![DigestType::Sha256];
        if a.sha384 {
            digests.push(DigestType::Sha384);
        }
        for d in digests {
            let ds = k.ds(&origin, d);
            let mut h = String::new();
            hex_encode(&ds[4..], &mut h);
            println!(
                "{owner} IN DS {} {} {} {}",
                k.tag,
                k.algorithm.number(),
                d.number(),
                h.to_ascii_uppercase()
            );
        }
        let mut b = String::new();
        base64_encode(&k.public, &mut b);
        println!(
            "{owner} IN DNSKEY {} 3 {} {}",
            k.flags,
            k.algorithm.number(),
            b
        );
    }
    Ok(())
}
