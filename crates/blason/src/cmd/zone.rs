//! `blason zone check` and `blason zone print`.
use blason_zone::finding::json_str;
use blason_zone::load::{load, Loaded};
use blason_zone::{Name, Severity};
use clap::{Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ZoneCmd {
    /// Check a zone file as BIND's named-checkzone does, and more.
    ///
    /// Mail records found in the zone (SPF, _dmarc, DKIM keys and ADSP, BIMI,
    /// _mta-sts, _smtp._tls, TLSA) are linted too, offline: includes and other lookups
    /// are followed inside the zone only.
    ///
    /// Every finding has a stable id, a severity (error, warning, note), the file and
    /// line, what is wrong and how to fix it. Exit status: 0 when there is no error
    /// (warnings allowed), 1 when there are errors, 2 when the file cannot be read.
    ///
    /// Example: blason zone check example.com /etc/bind/db.example.com
    Check {
        /// The zone's origin, e.g. example.com (a trailing dot is optional)
        origin: String,
        /// The zone file (BIND format)
        file: PathBuf,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Hide notes (show errors and warnings only)
        #[arg(long)]
        quiet: bool,
    },
    /// Print the zone as read: one record per line, absolute names, TTL, class, type
    /// and rdata, the same records `named-checkzone -D` prints.
    ///
    /// Example: blason zone print example.com db.example.com
    Print {
        /// The zone's origin, e.g. example.com
        origin: String,
        /// The zone file (BIND format)
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Parses an origin given on the command line; a missing trailing dot is implied.
pub fn parse_origin(s: &str) -> Result<Name, String> {
    let abs = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{}.", s)
    };
    Name::parse(&abs, None).map_err(|e| format!("bad zone origin '{}': {}", s, e))
}

fn read(origin: &str, file: &Path) -> Result<(Name, Loaded), ExitCode> {
    let origin = parse_origin(origin).map_err(|e| {
        eprintln!("blason: {}", e);
        ExitCode::from(2)
    })?;
    let loaded = load(&origin, file).map_err(|e| {
        eprintln!("blason: {}", e);
        ExitCode::from(2)
    })?;
    Ok((origin, loaded))
}

pub fn run(c: ZoneCmd) -> ExitCode {
    match c {
        ZoneCmd::Check {
            origin,
            file,
            format,
            quiet,
        } => {
            let (origin, mut loaded) = match read(&origin, &file) {
                Ok(v) => v,
                Err(code) => return code,
            };
            // The mail lints: they never stop a zone from loading, so their errors are
            // counted apart from the zone's own.
            let zone_errors = loaded.findings.iter().filter(|f| f.is_error()).count();
            let mail = blason_mail::zone_lint::lint_loaded(&loaded);
            loaded.findings.extend(mail);
            loaded.findings.sort_by(|a, b| {
                let pa = a.place.as_ref().map(|p| (p.file.clone(), p.line));
                let pb = b.place.as_ref().map(|p| (p.file.clone(), p.line));
                pa.cmp(&pb).then(a.severity.cmp(&b.severity))
            });
            let errors = loaded
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count();
            let warnings = loaded
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count();
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let shown = loaded
                .findings
                .iter()
                .filter(|f| !quiet || f.severity != Severity::Note);
            if format == Format::Json {
                let items: Vec<String> = shown.map(|f| f.to_json()).collect();
                let _ = writeln!(
                    out,
                    "{{\"zone\":{},\"file\":{},\"serial\":{},\"findings\":[{}],\"errors\":{},\"warnings\":{}}}",
                    json_str(&origin.to_string()),
                    json_str(&file.display().to_string()),
                    loaded.zone.serial().map(|s| s.to_string()).unwrap_or_else(|| "null".into()),
                    items.join(","),
                    errors,
                    warnings
                );
            } else {
                for f in shown {
                    let _ = writeln!(out, "{}", f);
                }
                if zone_errors == 0 {
                    let serial = loaded.zone.serial().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "zone {}: loaded serial {}, {} names; {} warnings",
                        origin,
                        serial,
                        loaded.zone.nodes().len(),
                        warnings
                    );
                    if errors > zone_errors {
                        let _ = writeln!(
                            out,
                            "{} error(s) in mail records: the zone loads, but receivers cannot use those records",
                            errors - zone_errors
                        );
                    } else {
                        let _ = writeln!(out, "OK");
                    }
                } else {
                    let _ = writeln!(
                        out,
                        "zone {}: {} errors, {} warnings: not loadable",
                        origin, errors, warnings
                    );
                }
            }
            if errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        ZoneCmd::Print { origin, file } => {
            let (_, loaded) = match read(&origin, &file) {
                Ok(v) => v,
                Err(code) => return code,
            };
            let errs: Vec<_> = loaded.findings.iter().filter(|f| f.is_error()).collect();
            if !errs.is_empty() {
                for f in errs {
                    eprintln!("{}", f);
                }
                return ExitCode::from(1);
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            if blason_zone::print::write_zone(&loaded.zone, &mut out)
                .and_then(|_| out.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
    }
}
