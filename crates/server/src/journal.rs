//! A zone's journal: the committed changesets (signed side included) and a snapshot
//! they start from, in one append-only file, `<state>/<zone>/journal`.
//!
//! Design note. An append-only file of our own rather than an embedded store: the
//! access pattern is exactly "append a record, fsync; at start read everything once;
//! now and then rewrite whole" (a snapshot and the recent history), which a log does
//! with one `write` and one `fdatasync` per commit, and no store's page format or
//! compaction policy to carry. The file is
//!
//!   b"BLASONJ1", then frames: [u32 len][u32 !len][u32 crc32(payload)][payload]
//!
//! with payload = kind (1 history changeset, 2 snapshot, 3 changeset) + the codec of
//! `zone::update::codec`. Kinds come in the order history*, snapshot, changeset*:
//! the zone is the snapshot with every later changeset played on it, and history plus
//! later changesets are the IXFR record. The length is stored twice so that a damaged
//! length is told from a short write: a frame that runs past the end of the file, or
//! a bad last frame, is a torn tail (a crash during an append) and is cut with a log
//! line; a bad frame with data after it is damage in the middle and is refused,
//! naming the file. Appends are one `write` then `fdatasync`; a failed append is
//! truncated away before anything else is written. The file is rewritten (a new
//! snapshot, the recent history kept) through a temporary file, fsync and rename,
//! on a thread of its own while appends go on; those are carried over at the end.
//! A lock (`flock`) keeps two servers off one journal.
#![forbid(unsafe_code)]

use blason_zone::update::{self, codec, Changeset};
use blason_zone::Zone;
use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"BLASONJ1";
const HEADER: usize = 12;
const HISTORY: u8 = 1;
const SNAPSHOT: u8 = 2;
const CHANGE: u8 = 3;
/// History kept in memory and carried across a rewrite, in encoded bytes.
const HISTORY_BYTES: usize = 64 << 20;
/// A rewrite is due once the changesets after the snapshot outweigh it (and this).
const MIN_REWRITE: u64 = 8 << 20;

/// What can go wrong with a journal; `Damaged` is the file's fault, `Io` the
/// system's, `Busy` the operator's (two servers on one state folder).
#[derive(Debug)]
pub enum JournalError {
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    Damaged {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    Busy {
        path: PathBuf,
    },
}

impl blason_zone::fault::Blame for JournalError {
    fn fault(&self) -> blason_zone::fault::Fault {
        use blason_zone::fault::Fault;
        match self {
            JournalError::Io { source, .. } => blason_dnssec::error::io_fault(source),
            // A damaged file is moved aside and the zone starts from its file.
            JournalError::Damaged { .. } => Fault::System,
            JournalError::Busy { .. } => Fault::Config,
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, op, source } => {
                write!(f, "journal {}: cannot {op}: {source}", path.display())
            }
            JournalError::Damaged { path, offset, what } => write!(
                f,
                "journal {} is damaged at byte {offset}: {what}; move it aside to start from the zone file and keys",
                path.display()
            ),
            JournalError::Busy { path } => write!(
                f,
                "journal {} is in use by another running blason; give each server its own --state folder",
                path.display()
            ),
        }
    }
}

impl std::error::Error for JournalError {}

/// One frame found by [`parse`]: its kind and where its payload is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub at: usize,
    pub len: usize,
}

/// The frames of a journal file's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub frames: Vec<Frame>,
    /// The end of the last good frame; past it, a torn tail to cut.
    pub good_len: usize,
}

/// Splits a journal's bytes into frames, checking lengths and checksums: a torn tail
/// is reported through `good_len`; damage before the tail is an error at an offset.
pub fn parse(b: &[u8]) -> Result<Parsed, (usize, &'static str)> {
    let (frames, good_len, damage) = scan(b);
    match damage {
        Some(d) => Err(d),
        None => Ok(Parsed { frames, good_len }),
    }
}

/// The good frames up to the first bad one, where they end, and the damage found
/// there (None: the end, or a torn tail).
fn scan(b: &[u8]) -> (Vec<Frame>, usize, Option<(usize, &'static str)>) {
    let mut frames = Vec::new();
    if b.len() < MAGIC.len() || &b[..MAGIC.len()] != MAGIC {
        return (frames, 0, Some((0, "not a blason journal (bad magic)")));
    }
    let mut p = MAGIC.len();
    while p < b.len() {
        let Some(h) = b.get(p..p + HEADER) else {
            break; // a header cut short: torn tail
        };
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let check = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let crc = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        if len != !check {
            // A crash can leave a file extended with zeros; anything else is damage.
            if b[p..].iter().all(|&x| x == 0) {
                break;
            }
            return (frames, p, Some((p, "frame header damaged")));
        }
        let start = p + HEADER;
        let Some(payload) = start
            .checked_add(len as usize)
            .and_then(|e| b.get(start..e))
        else {
            break; // runs past the end: torn tail
        };
        if crc32fast::hash(payload) != crc {
            if start + payload.len() == b.len() {
                break; // the last frame, written in part
            }
            return (frames, p, Some((p, "checksum mismatch")));
        }
        let Some(&kind) = payload.first() else {
            return (frames, p, Some((p, "empty frame")));
        };
        frames.push(Frame {
            kind,
            at: start + 1,
            len: payload.len() - 1,
        });
        p = start + payload.len();
    }
    (frames, p, None)
}

/// The latest serial the readable frames of a (damaged) journal show: a zone then
/// loaded from its file must not serve a serial that was given out already. None
/// when nothing readable holds one.
pub fn salvage_serial(path: &Path) -> Option<u32> {
    let b = std::fs::read(path).ok()?;
    let (frames, _, _) = scan(&b);
    let mut last: Option<u32> = None;
    for f in frames {
        let body = &b[f.at..f.at + f.len];
        let serial = match f.kind {
            SNAPSHOT => codec::decode_zone(body).ok().and_then(|z| z.serial()),
            HISTORY | CHANGE => body
                .get(4..8)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
            _ => None,
        };
        if let Some(s) = serial {
            last = Some(match last {
                Some(l) if !update::serial_gt(s, l) => l,
                _ => s,
            });
        }
    }
    last
}

fn frame(kind: u8, body: &[u8], out: &mut Vec<u8>) {
    let len = (body.len() + 1) as u32;
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(body);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&(!len).to_be_bytes());
    out.extend_from_slice(&h.finalize().to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// The recent changesets, encoded, oldest first: the IXFR history. The journal
/// appends; transfers read on their own threads (a lock held for a copy of the
/// pointers only).
#[derive(Clone, Default)]
pub struct History(Arc<Mutex<Entries>>);

/// The entries, and their bytes in all.
type Entries = (VecDeque<Arc<Vec<u8>>>, usize);

impl History {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, cs: Vec<u8>) {
        let mut h = self.lock();
        h.1 += cs.len();
        h.0.push_back(Arc::new(cs));
        while h.1 > HISTORY_BYTES && h.0.len() > 1 {
            if let Some(old) = h.0.pop_front() {
                h.1 -= old.len();
            }
        }
    }

    /// The entries as they are now.
    pub fn entries(&self) -> Vec<Arc<Vec<u8>>> {
        self.lock().0.iter().cloned().collect()
    }

    /// The changes from `serial` to the last entry, condensed into one changeset;
    /// None when no entry starts at `serial` (older than the history, or unknown).
    pub fn changes_since(&self, serial: u32) -> Option<Changeset> {
        let mut out: Option<Changeset> = None;
        for bytes in self.entries() {
            let cs = codec::decode_changeset(&bytes).ok()?;
            out = match out {
                None if cs.from != serial => continue,
                None => Some(cs),
                Some(o) => Some(o.compose(&cs).ok()?),
            };
        }
        out
    }

    /// The serial the last entry ends at.
    pub fn last_serial(&self) -> Option<u32> {
        let last = self.lock().0.back().cloned()?;
        codec::decode_changeset(&last).ok().map(|c| c.to)
    }
}

/// What a journal gives back at start.
pub struct Restored {
    /// The zone as last committed.
    pub zone: Zone,
    /// Bytes cut from a torn tail (0: none).
    pub cut: u64,
    /// Changesets read (history and after the snapshot).
    pub changesets: usize,
}

/// A zone's open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    len: u64,
    /// Size of the snapshot frame and of what follows it.
    snapshot_len: u64,
    since_snapshot: u64,
    /// The recent changesets as encoded, oldest first (IXFR history), shared with
    /// the transfers that read it.
    history: History,
    /// An append failed and could not be undone: refuse until rewritten.
    broken: bool,
    /// A rewrite under way on its own thread.
    rewriting: Option<Rewriting>,
    /// Bytes of changesets after the snapshot that call for a rewrite; None: the
    /// snapshot's own size (at least 8 MiB).
    rewrite_at: Option<u64>,
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Takes the journal's lock, or says who holds it.
fn lock(file: &File, path: &Path) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Busy {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(path, "lock")(e)),
    }
}

impl Journal {
    /// Opens the journal at `path` and rebuilds the zone it holds; None when there is
    /// no journal yet. A torn tail is cut (see [`Restored::cut`]).
    pub fn open(path: &Path) -> Result<Option<(Journal, Restored)>, JournalError> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        lock(&file, path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(path, "read"))?;
        let damaged = |offset: usize, what: String| JournalError::Damaged {
            path: path.to_path_buf(),
            offset: offset as u64,
            what,
        };
        let parsed = parse(&bytes).map_err(|(at, what)| damaged(at, what.to_string()))?;
        let mut zone: Option<Zone> = None;
        let mut j = Journal {
            path: path.to_path_buf(),
            file,
            len: parsed.good_len as u64,
            snapshot_len: 0,
            since_snapshot: 0,
            history: History::default(),
            broken: false,
            rewriting: None,
            rewrite_at: None,
        };
        let mut count = 0;
        let mut pending: Option<Changeset> = None;
        // The zone with the condensed changesets played on it.
        let play =
            |zone: Option<Zone>, cs: Option<Changeset>, at: usize| -> Result<Zone, JournalError> {
                let zone = zone.ok_or_else(|| damaged(MAGIC.len(), "no snapshot".into()))?;
                match cs {
                    Some(cs) => update::apply(&zone, &cs).map_err(|e| damaged(at, e.to_string())),
                    None => Ok(zone),
                }
            };
        for f in &parsed.frames {
            let body = &bytes[f.at..f.at + f.len];
            let at = f.at - 1 - HEADER;
            match (f.kind, &zone) {
                (HISTORY, None) => {
                    codec::decode_changeset(body).map_err(|e| damaged(at, e.to_string()))?;
                    j.remember(body.to_vec());
                    count += 1;
                }
                (SNAPSHOT, None) => {
                    zone = Some(codec::decode_zone(body).map_err(|e| damaged(at, e.to_string()))?);
                    j.snapshot_len = (f.len + 1 + HEADER) as u64;
                }
                (CHANGE, Some(_)) => {
                    let cs =
                        codec::decode_changeset(body).map_err(|e| damaged(at, e.to_string()))?;
                    // Condensed first, played once: a long tail of small changesets
                    // costs one pass over the zone, not one each.
                    pending = Some(match pending.take() {
                        None => cs,
                        Some(p) => p.compose(&cs).map_err(|e| damaged(at, e.to_string()))?,
                    });
                    if pending
                        .as_ref()
                        .is_some_and(|p| p.removed.len() + p.added.len() > 250_000)
                    {
                        zone = Some(play(zone.take(), pending.take(), at)?);
                    }
                    j.since_snapshot += (f.len + 1 + HEADER) as u64;
                    j.remember(body.to_vec());
                    count += 1;
                }
                (k, _) => return Err(damaged(at, format!("unexpected frame kind {k}"))),
            }
        }
        let last = parsed.frames.last().map_or(0, |f| f.at - 1 - HEADER);
        let zone = play(zone, pending, last)?;
        let cut = (bytes.len() - parsed.good_len) as u64;
        if cut > 0 {
            j.file
                .set_len(parsed.good_len as u64)
                .map_err(io_err(path, "cut the torn tail"))?;
            j.file.sync_data().map_err(io_err(path, "sync"))?;
        }
        j.file
            .seek(SeekFrom::Start(parsed.good_len as u64))
            .map_err(io_err(path, "seek"))?;
        Ok(Some((
            j,
            Restored {
                zone,
                cut,
                changesets: count,
            },
        )))
    }

    /// Starts a journal at `path` holding `zone` whole (replacing any file there).
    pub fn create(path: &Path, zone: &Zone) -> Result<Journal, JournalError> {
        let (f, len, snapshot_len) = write_tmp(path, &[], zone)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: put_in_place(path, f, &[])?,
            len,
            snapshot_len,
            since_snapshot: 0,
            history: History::default(),
            broken: false,
            rewriting: None,
            rewrite_at: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn remember(&mut self, cs: Vec<u8>) {
        self.history.push(cs);
    }

    /// The journal's history, to read from other threads (outgoing IXFR).
    pub fn history(&self) -> History {
        self.history.clone()
    }

    /// The changes from `serial` to the zone as last committed, condensed into one
    /// changeset: what an IXFR answers with. None when `serial` is not the start of a
    /// changeset the history still holds (older than the history, or unknown).
    pub fn changes_since(&self, serial: u32) -> Option<Changeset> {
        self.history.changes_since(serial)
    }

    /// Makes `cs` durable: one write, then `fdatasync`. On failure nothing of it
    /// stays in the file (or the journal refuses further appends until rewritten).
    pub fn append(&mut self, cs: &Changeset) -> Result<(), JournalError> {
        if self.broken {
            return Err(JournalError::Io {
                path: self.path.clone(),
                op: "append (an earlier append could not be undone; waiting for a rewrite)",
                source: io::Error::other("journal needs a rewrite"),
            });
        }
        let mut body = Vec::new();
        codec::encode_changeset(cs, &mut body);
        let mut buf = Vec::with_capacity(body.len() + HEADER + 1);
        frame(CHANGE, &body, &mut buf);
        let r = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = r {
            let len = self.len;
            if self
                .file
                .set_len(len)
                .and_then(|()| self.file.sync_data())
                .and_then(|()| self.file.seek(SeekFrom::Start(len)).map(drop))
                .is_err()
            {
                self.broken = true;
            }
            return Err(io_err(&self.path, "append")(e));
        }
        self.len += buf.len() as u64;
        self.since_snapshot += buf.len() as u64;
        if let Some(r) = &mut self.rewriting {
            r.tail.extend_from_slice(&buf);
        }
        self.remember(body);
        Ok(())
    }

    /// True when the changesets after the snapshot outweigh it (and no rewrite is
    /// under way): time to [`start_rewrite`](Self::start_rewrite).
    pub fn wants_rewrite(&self) -> bool {
        let at = self
            .rewrite_at
            .unwrap_or_else(|| self.snapshot_len.max(MIN_REWRITE));
        self.rewriting.is_none() && self.since_snapshot > at
    }

    /// Rewrite once the changesets after the snapshot pass `bytes` (None: once they
    /// outweigh the snapshot, and at least 8 MiB).
    pub fn set_rewrite_at(&mut self, bytes: Option<u64>) {
        self.rewrite_at = bytes;
    }

    /// An append failed and could not be undone: only a [`rewrite`](Self::rewrite)
    /// makes the journal usable again.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Rewrites the file as the recent history and `zone` whole (the zone as served
    /// now), through a temporary file, fsync and rename, before returning.
    pub fn rewrite(&mut self, zone: &Zone) -> Result<(), JournalError> {
        if let Some(r) = self.rewriting.take() {
            // Superseded: its file is replaced below.
            let _ = r.thread.join();
        }
        let history = self.history.entries();
        let (f, len, snapshot_len) = write_tmp(&self.path, &history, zone)?;
        self.install(f, len, snapshot_len, &[])
    }

    /// [`rewrite`](Self::rewrite) on a thread of its own: the snapshot (an immutable
    /// zone) is written beside the journal while appends go on; the next
    /// [`finish_rewrite`](Self::finish_rewrite) after it is done carries over what
    /// was appended meanwhile and puts the new file in place. Nothing proportional to
    /// the zone runs on the caller's thread.
    pub fn start_rewrite(&mut self, zone: std::sync::Arc<Zone>) {
        if self.rewriting.is_some() {
            return;
        }
        let history = self.history.entries();
        let path = self.path.clone();
        let spawned = std::thread::Builder::new()
            .name("journal-rewrite".into())
            .spawn(move || write_tmp(&path, &history, &zone));
        if let Ok(thread) = spawned {
            self.rewriting = Some(Rewriting {
                thread,
                tail: Vec::new(),
            });
        }
    }

    /// Puts a finished background rewrite in place (`wait`: wait for it to finish).
    /// None when none was under way (or it is still writing and `wait` is false).
    pub fn finish_rewrite(&mut self, wait: bool) -> Option<Result<(), JournalError>> {
        let done = self.rewriting.as_ref()?.thread.is_finished();
        if !done && !wait {
            return None;
        }
        let r = self.rewriting.take()?;
        let written = r.thread.join().unwrap_or_else(|_| {
            Err(JournalError::Io {
                path: self.path.clone(),
                op: "rewrite",
                source: io::Error::other("the rewriting thread panicked"),
            })
        });
        Some(written.and_then(|(f, len, snap)| self.install(f, len, snap, &r.tail)))
    }

    /// Makes the written temporary file the journal: appends `tail` (the frames
    /// appended since it was begun), syncs, renames, syncs the folder.
    fn install(
        &mut self,
        f: File,
        len: u64,
        snapshot_len: u64,
        tail: &[u8],
    ) -> Result<(), JournalError> {
        self.file = put_in_place(&self.path, f, tail)?;
        self.len = len + tail.len() as u64;
        self.snapshot_len = snapshot_len;
        self.since_snapshot = tail.len() as u64;
        self.broken = false;
        Ok(())
    }
}

/// Makes the filled temporary file the journal at `path`: appends `tail`, syncs,
/// renames, syncs the folder; returns the file, positioned at its end.
fn put_in_place(path: &Path, mut f: File, tail: &[u8]) -> Result<File, JournalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !tail.is_empty() {
        f.write_all(tail)
            .and_then(|()| f.sync_all())
            .map_err(io_err(path, "write"))?;
    }
    std::fs::rename(dir.join(TMP), path).map_err(io_err(path, "rename"))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(path, "sync the folder"))?;
    Ok(f)
}

/// The temporary file beside the journal that a rewrite fills.
const TMP: &str = ".journal.tmp";

/// A rewrite under way on its own thread.
struct Rewriting {
    thread: std::thread::JoinHandle<Result<(File, u64, u64), JournalError>>,
    /// Frames appended to the journal since it began, to carry over.
    tail: Vec<u8>,
}

/// Writes the history and `zone` whole to the temporary file beside `path`, synced
/// and locked; returns it (positioned at its end), its length and the snapshot
/// frame's length.
fn write_tmp(
    path: &Path,
    history: &[Arc<Vec<u8>>],
    zone: &Zone,
) -> Result<(File, u64, u64), JournalError> {
    let hist_bytes: usize = history.iter().map(|h| h.len()).sum();
    let mut buf = Vec::with_capacity(MAGIC.len() + hist_bytes + 1024);
    buf.extend_from_slice(MAGIC);
    for h in history {
        frame(HISTORY, h, &mut buf);
    }
    let mut body = Vec::new();
    codec::encode_zone(zone, &mut body);
    let before = buf.len();
    frame(SNAPSHOT, &body, &mut buf);
    let snapshot_len = (buf.len() - before) as u64;
    drop(body);
    let dir = path.parent().unwrap_or(Path::new("."));
    // Writes go at the position, which stays at the end: this handle becomes the
    // journal's, lock included (a lock belongs to an open file, not a path).
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(TMP))
        .map_err(io_err(path, "create a temporary file"))?;
    lock(&f, path)?;
    f.write_all(&buf)
        .and_then(|()| f.sync_all())
        .map_err(io_err(path, "write"))?;
    Ok((f, buf.len() as u64, snapshot_len))
}

#[cfg(test)]
mod tests;
