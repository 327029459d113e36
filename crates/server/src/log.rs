//! A small logger: one line per event on stderr, readable text or JSON.
//!
//! Kept in-house because the server needs three levels, two formats and key=value
//! fields, which is less code than a tracing stack's dependency tree.

use std::fmt::{self, Display, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
        }
    }
}

static FORMAT: OnceLock<Format> = OnceLock::new();

/// Chooses the format once per process; later calls are ignored (tests start many
/// servers in one process).
pub fn init(format: Format) {
    let _ = FORMAT.set(format);
}

pub fn info(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Info, msg, fields)
}
pub fn warn(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Warn, msg, fields)
}
pub fn error(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Error, msg, fields)
}

/// Formats the whole line first so concurrent writers never interleave.
pub fn log(level: Level, msg: &str, fields: &[(&str, &dyn Display)]) {
    let format = FORMAT.get().copied().unwrap_or_default();
    let mut line = String::with_capacity(128);
    let _ = format_line(&mut line, format, SystemTime::now(), level, msg, fields);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn format_line(
    out: &mut String,
    format: Format,
    now: SystemTime,
    level: Level,
    msg: &str,
    fields: &[(&str, &dyn Display)],
) -> fmt::Result {
    let mut val = String::new();
    match format {
        Format::Text => {
            write_time(out, now)?;
            write!(out, " {:<5} {}", level.as_str().to_uppercase(), msg)?;
            for (k, v) in fields {
                val.clear();
                write!(val, "{v}")?;
                if val.is_empty()
                    || val.contains(|c: char| c.is_whitespace() || c == '"' || c == '=')
                {
                    write!(out, " {k}={val:?}")?;
                } else {
                    write!(out, " {k}={val}")?;
                }
            }
        }
        Format::Json => {
            out.push_str("{\"ts\":\"");
            write_time(out, now)?;
            write!(out, "\",\"level\":\"{}\",\"msg\":", level.as_str())?;
            json_str(out, msg);
            for (k, v) in fields {
                val.clear();
                write!(val, "{v}")?;
                out.push(',');
                json_str(out, k);
                out.push(':');
                json_str(out, &val);
            }
            out.push('}');
        }
    }
    Ok(())
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 UTC with milliseconds, without a date crate.
fn write_time(out: &mut String, t: SystemTime) -> fmt::Result {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn text_and_json_lines() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut s = String::new();
        format_line(
            &mut s,
            Format::Text,
            t,
            Level::Info,
            "hello",
            &[("a", &1), ("b", &"x y")],
        )
        .unwrap();
        assert_eq!(s, "2023-11-14T22:13:20.123Z INFO  hello a=1 b=\"x y\"");
        s.clear();
        format_line(
            &mut s,
            Format::Json,
            t,
            Level::Warn,
            "q\"x",
            &[("k", &"a\nb")],
        )
        .unwrap();
        assert_eq!(
            s,
            r#"{"ts":"2023-11-14T22:13:20.123Z","level":"warn","msg":"q\"x","k":"a\nb"}"#
        );
    }
}
