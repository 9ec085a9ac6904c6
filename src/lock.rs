//! The archive's writer lock: one writer at a time.
//!
//! `DIR/lock` is locked with the operating system's advisory file lock
//! (`flock`), which the kernel releases when its holder ends, however it
//! ends. So a lock left by a killed process is never in force: the next
//! writer takes it at once, and the holder's description still in the file
//! tells it that a stale lock was cleared.
//!
//! Invariants:
//! - The file is never deleted, only emptied on release: deleting it would
//!   let two processes lock two different files of the same name.
//! - A writer that cannot take the lock fails at once (no waiting), naming
//!   the holder from the file's contents.
//! - Readers never take the lock: SQLite's WAL mode keeps them apart from
//!   the writer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name inside the archive directory.
pub const FILE_NAME: &str = "lock";

/// Who holds (or held) the lock, as written in the lock file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub user: String,
    /// What the holder is doing (`ingest`, `request`, ...).
    pub command: String,
    /// When it took the lock (RFC 3339, UTC).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`convault {}` (process {} of {} on {}) since {}",
            self.command, self.pid, self.user, self.host, self.since
        )
    }
}

/// The writer lock, held until dropped.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    /// The description left by an earlier holder that ended without
    /// releasing the lock (killed, crashed, power lost), if any.
    pub stale: Option<String>,
}

impl WriterLock {
    /// Takes the lock of the archive at `root` (which must exist) for
    /// `command`, or fails at once with [`Error::Locked`].
    pub fn acquire(root: &Path, command: &str, user: &str) -> Result<WriterLock> {
        let path = root.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: root.to_owned(),
                    holder: describe(&read_all(&mut file)),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let previous = read_all(&mut file);
        let stale = (!previous.trim().is_empty()).then(|| describe(&previous));
        let holder = Holder {
            pid: std::process::id(),
            host: hostname(),
            user: user.to_owned(),
            command: command.to_owned(),
            since: crate::clock::rfc3339_ms(jiff::Timestamp::now()),
        };
        let text = serde_json::to_string(&holder).map_err(|_| Error::Internal("lock holder"))?;
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")
        };
        write(&mut file).map_err(|e| Error::io(&path, e))?;
        Ok(WriterLock { file, stale })
    }

    /// The lock file of the archive at `root`.
    pub fn path(root: &Path) -> PathBuf {
        root.join(FILE_NAME)
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Emptied, then unlocked by closing. If emptying fails the next
        // writer reports a stale lock, which is harmless.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_all(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(64 * 1024).read_to_string(&mut s);
    s
}

/// A readable description of a lock file's contents.
fn describe(contents: &str) -> String {
    match serde_json::from_str::<Holder>(contents.trim()) {
        Ok(h) => h.to_string(),
        Err(_) if contents.trim().is_empty() => {
            "another convault that is just starting or ending (it has not said who it is)".into()
        }
        Err(_) => format!(
            "an unknown holder (the lock file says {:?})",
            contents.trim().chars().take(200).collect::<String>()
        ),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_fails_naming_the_first_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path(), "ingest", "alice").unwrap();
        assert_eq!(first.stale, None);
        let err = WriterLock::acquire(dir.path(), "request", "bob").unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("convault ingest") && msg.contains("alice"),
            "{msg}"
        );
        drop(first);
        let again = WriterLock::acquire(dir.path(), "request", "bob").unwrap();
        assert_eq!(again.stale, None, "a released lock is not stale");
    }

    #[test]
    fn a_lock_file_without_a_live_holder_is_reported_stale_and_taken() {
        let dir = tempfile::tempdir().unwrap();
        let holder = Holder {
            pid: 999_999,
            host: "h".into(),
            user: "carol".into(),
            command: "ingest".into(),
            since: "2026-11-20T10:00:00.000Z".into(),
        };
        std::fs::write(
            dir.path().join(FILE_NAME),
            serde_json::to_string(&holder).unwrap(),
        )
        .unwrap();
        let lock = WriterLock::acquire(dir.path(), "ingest", "dave").unwrap();
        let stale = lock.stale.clone().unwrap();
        assert!(
            stale.contains("999999") && stale.contains("carol"),
            "{stale}"
        );
    }
}
