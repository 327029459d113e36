//! The key state on disk: `<state dir>/<zone>/keystate.toml`, versioned TOML, written
//! atomically (temp file, fsync, rename, fsync of the folder), so a crash leaves the old
//! state or the new one and never half of each.
//!
//! Private keys are files of their own beside it, written by `keys`; the state names
//! them only ([`crate::roll::Key::file`]). A state that cannot be read is an error with
//! the file and the reason, never a fresh start: a fresh start means new keys, and new
//! keys mean a DS at the parent that matches nothing.

use crate::roll::State;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The file format this code writes; older ones are read, newer ones refused.
pub const FORMAT: u32 = 1;
pub const FILE: &str = "keystate.toml";
const TMP: &str = ".keystate.toml.tmp";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    format: u32,
    zone: String,
    state: State,
}

#[derive(Debug)]
pub enum StateError {
    MissingDir(PathBuf),
    NotADir(PathBuf),
    Io {
        path: PathBuf,
        op: &'static str,
        error: io::Error,
    },
    Corrupt {
        path: PathBuf,
        detail: String,
    },
    Unsupported {
        path: PathBuf,
        format: u32,
    },
    WrongZone {
        path: PathBuf,
        found: String,
        expected: String,
    },
    /// Key files but no state: starting afresh would orphan them.
    MissingState {
        path: PathBuf,
        others: Vec<String>,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::MissingDir(p) => write!(
                f,
                "state folder {} does not exist; create it (mode 0700, owned by the server's user) or pass --state",
                p.display()
            ),
            StateError::NotADir(p) => write!(f, "state folder {} is not a folder", p.display()),
            StateError::Io { path, op, error } => {
                write!(f, "{}: cannot {op}: {error}", path.display())
            }
            StateError::Corrupt { path, detail } => write!(
                f,
                "{}: key state is unreadable, refusing to start afresh (that would make new keys and break the chain of trust): {detail}",
                path.display()
            ),
            StateError::Unsupported { path, format } => write!(
                f,
                "{}: key state format {format} is newer than this blason understands ({FORMAT}); use a newer blason",
                path.display()
            ),
            StateError::WrongZone {
                path,
                found,
                expected,
            } => write!(
                f,
                "{}: key state belongs to zone {found}, not {expected}",
                path.display()
            ),
            StateError::MissingState { path, others } => write!(
                f,
                "{}: missing, but the folder holds {}; refusing to start afresh — restore {FILE} from a backup",
                path.display(),
                others.join(", ")
            ),
        }
    }
}

impl std::error::Error for StateError {}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |error| StateError::Io {
        path: path.to_path_buf(),
        op,
        error,
    }
}

/// The folder name for a zone: lower case, no trailing dot, anything unusual escaped
/// as `%XX` so no zone name can reach outside the state folder.
pub fn zone_dir_name(zone: &str) -> String {
    let z = zone.strip_suffix('.').unwrap_or(zone).to_ascii_lowercase();
    if z.is_empty() {
        return "_root".into();
    }
    let mut out = String::new();
    for (i, b) in z.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out += &format!("%{b:02x}");
        }
    }
    out
}

/// A state folder (`--state DIR`).
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens an existing folder; a missing one is an error, never created silently.
    pub fn open(root: &Path) -> Result<StateDir, StateError> {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => Ok(StateDir {
                root: root.to_path_buf(),
            }),
            Ok(_) => Err(StateError::NotADir(root.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StateError::MissingDir(root.to_path_buf()))
            }
            Err(e) => Err(io_err(root, "read")(e)),
        }
    }

    /// Opens the folder, creating it (0700) when missing.
    pub fn create(root: &Path) -> Result<StateDir, StateError> {
        if !root.exists() {
            mkdir_private(root)?;
        }
        StateDir::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn zone_dir(&self, zone: &str) -> PathBuf {
        self.root.join(zone_dir_name(zone))
    }

    pub fn state_file(&self, zone: &str) -> PathBuf {
        self.zone_dir(zone).join(FILE)
    }

    /// The zone's state, or `None` for a zone that never had one.
    pub fn load(&self, zone: &str) -> Result<Option<State>, StateError> {
        let dir = self.zone_dir(zone);
        let path = dir.join(FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let others = other_files(&dir)?;
                if others.is_empty() {
                    return Ok(None);
                }
                return Err(StateError::MissingState { path, others });
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(StateError::Corrupt {
                    path,
                    detail: "not UTF-8 text".into(),
                })
            }
            Err(e) => return Err(io_err(&path, "read")(e)),
        };
        let (found, state) = from_text(&text).map_err(|e| match e {
            TextError::Corrupt(detail) => StateError::Corrupt {
                path: path.clone(),
                detail,
            },
            TextError::Unsupported(format) => StateError::Unsupported {
                path: path.clone(),
                format,
            },
        })?;
        if zone_dir_name(&found) != zone_dir_name(zone) {
            return Err(StateError::WrongZone {
                path,
                found,
                expected: zone.to_string(),
            });
        }
        Ok(Some(state))
    }

    /// Saves atomically; the zone's folder is made (0700) when missing.
    pub fn save(&self, zone: &str, state: &State) -> Result<(), StateError> {
        let dir = self.zone_dir(zone);
        if !dir.exists() {
            mkdir_private(&dir)?;
        }
        write_atomic(&dir.join(FILE), to_text(zone, state).as_bytes(), 0o600)
    }
}

fn mkdir_private(path: &Path) -> Result<(), StateError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(io_err(path, "create folder"))
}

fn other_files(dir: &Path) -> Result<Vec<String>, StateError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_err(dir, "list")(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err(dir, "list"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name != TMP {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `bytes` to `path` whole or not at all (`blason_store::write_atomic`: the
/// state folder's one durability rule); `mode` applies on Unix.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    blason_store::write_atomic(path, bytes, mode).map_err(|e| io_err(&e.path, e.op)(e.source))
}

/// The file's text for a zone's state.
pub fn to_text(zone: &str, state: &State) -> String {
    let disk = OnDisk {
        format: FORMAT,
        zone: zone.to_string(),
        state: state.clone(),
    };
    let body = toml::to_string(&disk).unwrap_or_else(|e| {
        // Every field is a plain number, string or table; this cannot fail.
        unreachable!("key state serialises: {e}")
    });
    format!("# blason DNSSEC key state. Written by blason; edit only when it is stopped.\n{body}")
}

#[derive(Debug, PartialEq, Eq)]
pub enum TextError {
    Corrupt(String),
    Unsupported(u32),
}

/// Parses and checks a state file's text; returns the zone it names and the state.
pub fn from_text(text: &str) -> Result<(String, State), TextError> {
    #[derive(Deserialize)]
    struct Head {
        format: Option<u32>,
    }
    let head: Head =
        toml::from_str(text).map_err(|e| TextError::Corrupt(e.to_string().trim().to_string()))?;
    match head.format {
        None => return Err(TextError::Corrupt("no `format` line".into())),
        Some(f) if f > FORMAT => return Err(TextError::Unsupported(f)),
        Some(_) => {}
    }
    let disk: OnDisk =
        toml::from_str(text).map_err(|e| TextError::Corrupt(e.to_string().trim().to_string()))?;
    check(&disk.state).map_err(TextError::Corrupt)?;
    Ok((disk.zone, disk.state))
}

/// Cross-references a parser cannot see.
fn check(s: &State) -> Result<(), String> {
    let mut ids = HashSet::new();
    for k in &s.keys {
        if !ids.insert(k.id) {
            return Err(format!("{} appears twice", k.id));
        }
        if k.id.0 >= s.next_id {
            return Err(format!("{} is not below next-id {}", k.id, s.next_id));
        }
    }
    let mut kinds = HashSet::new();
    for r in &s.rolls {
        if !kinds.insert(r.kind) {
            return Err(format!("two {} in progress", r.kind));
        }
        for id in &r.old {
            if !ids.contains(id) {
                return Err(format!(
                    "{} names {id}, which is not among the keys",
                    r.kind
                ));
            }
        }
        for n in &r.new {
            if n.id.0 >= s.next_id {
                return Err(format!("{} plans {}, not below next-id", r.kind, n.id));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::roll::{apply, plan, Action, Outcome};

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("blason-state-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// A state with keys and a roll in progress, made by the planner itself.
    fn sample() -> State {
        let p = Policy::default();
        let mut s = State::default();
        let t = 1_700_000_000;
        for _ in 0..3 {
            let pl = plan(&s, &p, t, &[]);
            let out: Vec<Outcome> = pl
                .actions
                .iter()
                .map(|a| match a {
                    Action::GenerateKey(n) => Outcome::Generated {
                        id: n.id,
                        tag: 4242,
                        file: format!("K{}.private", n.id.0),
                    },
                    a => Outcome::Done(a.clone()),
                })
                .collect();
            s = apply(&s, &out, t);
        }
        assert!(!s.keys.is_empty() && !s.rolls.is_empty());
        s
    }

    #[test]
    fn round_trip_and_atomic_write() {
        let root = tmpdir("rt");
        let dir = StateDir::create(&root).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = fs::metadata(&root).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o700);
        }
        assert_eq!(dir.load("example.com.").unwrap(), None);
        let s = sample();
        dir.save("example.com.", &s).unwrap();
        assert_eq!(dir.load("Example.COM").unwrap(), Some(s.clone()));
        // Saving again replaces, and leaves no temp file behind.
        let mut s2 = s.clone();
        s2.last_seen += 10;
        dir.save("example.com.", &s2).unwrap();
        assert_eq!(dir.load("example.com.").unwrap(), Some(s2));
        assert_eq!(
            other_files(&dir.zone_dir("example.com.")).unwrap(),
            vec![FILE.to_string()]
        );
        let text = fs::read_to_string(dir.state_file("example.com.")).unwrap();
        assert!(text.starts_with("# blason"), "{text}");
        assert!(text.contains("format = 1"));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn clear_errors_never_a_reset() {
        let root = tmpdir("err");
        let e = StateDir::open(&root).unwrap_err();
        assert!(matches!(e, StateError::MissingDir(_)));
        assert!(e.to_string().contains("does not exist"));
        let dir = StateDir::create(&root).unwrap();
        let path = dir.state_file("example.com");
        dir.save("example.com", &sample()).unwrap();

        let good = fs::read_to_string(&path).unwrap();
        let cases = [
            (good[..good.len() / 2].to_string(), "unreadable"),
            (good.replace("format = 1", "format = 9"), "newer"),
            (good.replace("format = 1\n", ""), "no `format`"),
            (
                good.replace("role = \"csk\"", "role = \"bsk\""),
                "unreadable",
            ),
            (good.replace("next_id = 1", "next_id = 0"), "next-id"),
            ("\u{0}\u{1}garbage".to_string(), "unreadable"),
        ];
        for (text, want) in cases {
            fs::write(&path, text).unwrap();
            let e = dir.load("example.com").unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
            assert!(e.contains("keystate.toml"), "{e}");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(dir.load("example.org").unwrap(), None);

        // Key files without a state: an error, not a fresh start.
        fs::remove_file(&path).unwrap();
        fs::write(
            dir.zone_dir("example.com")
                .join("Kexample.com.+013+04242.private"),
            "x",
        )
        .unwrap();
        let e = dir.load("example.com").unwrap_err();
        assert!(e.to_string().contains("refusing to start afresh"), "{e}");

        // A state copied under another zone's folder.
        fs::create_dir_all(dir.zone_dir("example.net")).unwrap();
        fs::write(dir.state_file("example.net"), &good).unwrap();
        let e = dir.load("example.net").unwrap_err();
        assert!(matches!(e, StateError::WrongZone { .. }), "{e}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn zone_folder_names_stay_inside() {
        assert_eq!(zone_dir_name("Example.COM."), "example.com");
        assert_eq!(zone_dir_name("."), "_root");
        assert_eq!(zone_dir_name("a/b.example"), "a%2fb.example");
        assert_eq!(zone_dir_name(".."), "%2e");
        assert!(!zone_dir_name("../etc").contains('/'));
    }
}
