//! Part of step 1 of `simboard run`: one run per result file. A run takes an
//! exclusive OS lock on `<results>.lock` before its first request and holds
//! it to the end; the kernel releases it if the process dies, so a crash
//! never leaves a stale lock behind. A second run (or a `--resume`) on the
//! same result file finds it taken and stops at once, naming the running one
//! from what the lock file says (its pid and when it started; nothing else).
//!
//! The lock file is removed by its owner at the end. Removing a locked file
//! lets a racing run lock the old, unlinked file while a third one creates a
//! new file; so a run that took the lock checks that the path still names
//! the file it locked, and tries again if not.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The lock of one result file, held while this value lives.
#[derive(Debug)]
pub(super) struct Lock {
    /// Open for as long as the lock is held: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub(super) enum LockError {
    #[error(
        "another simboard run is writing {results} ({holder}); wait for it to end, or choose \
         another -o (the lock is {lock})"
    )]
    Held {
        results: String,
        holder: String,
        lock: String,
    },
    #[error("cannot create the lock file {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// `<results>.lock`, beside the result file.
pub(super) fn lock_path(results: &Path) -> PathBuf {
    let mut name = results.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl Lock {
    /// Takes the lock of `results`, or says who holds it.
    pub(super) fn take(results: &Path) -> Result<Lock, LockError> {
        let path = lock_path(&real_path(results));
        let io = |source: io::Error| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        // A few rounds at most: each one is lost only to a run that removed
        // the file between our open and our lock, i.e. a run that just ended.
        for _ in 0..8 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            if !try_lock(&file).map_err(io)? {
                return Err(LockError::Held {
                    results: results.display().to_string(),
                    holder: holder(&mut file),
                    lock: path.display().to_string(),
                });
            }
            if !still_named(&file, &path) {
                continue;
            }
            write_holder(&mut file).map_err(io)?;
            return Ok(Lock { _file: file, path });
        }
        Err(io(io::Error::other(
            "the lock file keeps being replaced by other runs",
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked: a run waiting on this file finds it
        // gone from the path, and takes a new one.
        let _ = std::fs::remove_file(&self.path);
        // Closing the file (when `_file` drops, next) releases the lock.
    }
}

/// Takes an exclusive lock on `file` without waiting: false when another
/// open file holds it. `flock(2)` locks belong to the open file, so the
/// kernel releases them when the process dies, however it dies.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor that `file` keeps open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Elsewhere, the standard library's lock (Rust 1.89 and later).
#[cfg(not(unix))]
#[allow(clippy::incompatible_msrv)]
fn try_lock(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(err)) => Err(err),
    }
}

/// The file a result path names, however it is spelt (`./r.csv`, a
/// symbolic link): two runs on one file take one lock. A file that does not
/// exist yet is named by its directory, resolved, and its name.
fn real_path(results: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(results) {
        return real;
    }
    let dir = match results.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), results.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => results.to_owned(),
    }
}

/// What the running run wrote in its lock file, as one phrase.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(256).read_to_string(&mut text);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "a run that is just starting".to_owned()
    } else {
        text
    }
}

/// Writes this process's pid and start time into the lock file.
fn write_holder(file: &mut File) -> io::Result<()> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(
        file,
        "pid {} started at {} (Unix time {since})",
        std::process::id(),
        httpdate::fmt_http_date(SystemTime::now())
    )?;
    file.flush()
}

/// True when `path` still names the open `file` (nobody removed it since).
fn still_named(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Elsewhere a locked file cannot be removed, so the race cannot happen.
        let _ = (file, path);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_result_file_is_refused_and_names_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        let first = Lock::take(&results).unwrap();
        let err = Lock::take(&results).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(
            !lock_path(&real_path(&results)).exists(),
            "the owner removes it"
        );
        let again = Lock::take(&results);
        assert!(again.is_ok(), "free again once the first is gone");
    }

    #[cfg(unix)]
    #[test]
    fn one_file_under_two_names_has_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("r.csv");
        std::fs::write(&results, "").unwrap();
        std::os::unix::fs::symlink(&results, dir.path().join("link.csv")).unwrap();
        let _first = Lock::take(&results).unwrap();
        assert!(Lock::take(&dir.path().join("link.csv")).is_err());
        assert!(Lock::take(&dir.path().join(".").join("r.csv")).is_err());
    }

    #[test]
    fn other_result_files_have_other_locks() {
        let dir = tempfile::tempdir().unwrap();
        let _a = Lock::take(&dir.path().join("a.csv")).unwrap();
        assert!(Lock::take(&dir.path().join("b.csv")).is_ok());
    }
}
