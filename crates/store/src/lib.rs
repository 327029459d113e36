//! blason-store: how anything in the state folder is written, and who may write it.
//!
//! Owns: the one durability rule for files that must survive a crash whole (key
//! state, key files, DKIM keys, TLSA state, policies, signed zone files): a temporary
//! file in the same folder, created with its final mode before any byte is written,
//! filled and fsynced, renamed over the target, then the folder fsynced so that the
//! rename itself survives; and the lock that keeps two servers off one state folder.
//!
//! Refuses: what the files hold (each owner's crate), the journal's own append-only
//! format (`server::journal`).
#![forbid(unsafe_code)]

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A write that failed: which file, doing what.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    pub op: &'static str,
    pub source: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: cannot {}: {}",
            self.path.display(),
            self.op,
            self.source
        )
    }
}

impl std::error::Error for WriteError {}

fn err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never
/// a part; `mode` (Unix permissions) holds from the first byte.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    write_atomic_with(path, mode, |w| w.write_all(bytes))
}

/// [`write_atomic`] for output made piece by piece (a signed zone file): `fill`
/// writes into a buffered writer over the temporary file.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A temporary file left by a crash of this very pid (after a restart) goes first.
    let _ = std::fs::remove_file(&tmp);
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let file = o.open(&tmp).map_err(err(&tmp, "create"))?;
    let written = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(&tmp, "write")(e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(path, "rename into place")(e));
    }
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err(dir, "fsync the folder"))?;
    Ok(())
}

/// The lock file in a state folder.
pub const LOCK: &str = "lock";

/// Holds a state folder for one server while it lives (an `flock` on `<root>/lock`,
/// released by the system when the process ends, however it ends).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Why a state folder could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another running server holds it; its pid as it wrote it, if readable.
    Busy {
        root: PathBuf,
        pid: Option<u32>,
    },
    Io(WriteError),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Busy { root, pid } => {
                write!(
                    f,
                    "the state folder {} is in use by another running blason",
                    root.display()
                )?;
                if let Some(p) = pid {
                    write!(f, " (pid {p})")?;
                }
                f.write_str("; give each server its own --state folder")
            }
            LockError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// Creates `root` (mode 0700) if needed and locks it for this process.
pub fn lock_folder(root: &Path) -> Result<FolderLock, LockError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(root)
        .map_err(|e| LockError::Io(err(root, "create the folder")(e)))?;
    let path = root.join(LOCK);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LockError::Io(err(&path, "open")(e)))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            return Err(LockError::Busy {
                root: root.to_path_buf(),
                pid,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(err(&path, "lock")(e))),
    }
    // Who holds it, for the message a second server prints.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(FolderLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("blason-store-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_whole_files_with_their_mode_and_leaves_no_temporary_file() {
        let d = dir("write");
        let p = d.join("key.private");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(m & 0o777, 0o600);
        }
        let failed = write_atomic_with(&p, 0o600, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("the disk is full"))
        });
        assert!(failed.unwrap_err().to_string().contains("the disk is full"));
        assert_eq!(std::fs::read(&p).unwrap(), b"two", "the old file stays");
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        assert!(write_atomic(&d.join("no/such/folder/x"), b"x", 0o600).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn one_server_per_state_folder() {
        let d = dir("lock");
        let root = d.join("state");
        let held = lock_folder(&root).unwrap();
        match lock_folder(&root) {
            Err(LockError::Busy { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(lock_folder(&root).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
