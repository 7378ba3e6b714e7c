//! One switch per store file: two writers would each take the other's live calls for a
//! crash's leftovers and mark them interrupted.
//!
//! The writer holds an exclusive `flock` on `<path>-lock` for its whole life (the OS drops it
//! when the process dies, so a crash never leaves it behind). The database file itself is not
//! used: SQLite's own POSIX locks on it would be released if we closed another descriptor.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{SqliteCause, StoreError};

/// The lock file next to the database.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

/// Takes the store's lock, or says who holds it.
pub(crate) fn acquire(db: &Path) -> Result<File, StoreError> {
    let path = lock_path(db);
    let open_err = |e: std::io::Error| StoreError::Open {
        path: db.to_owned(),
        cause: SqliteCause::CannotOpen,
        message: format!("cannot open the lock file {}: {e}", path.display()),
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(open_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(StoreError::Locked {
                path: db.to_owned(),
                holder: holder.trim().parse().ok(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(open_err(e)),
    }
    // Who holds it, for the message another process gets. Best effort: the lock is what counts.
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}
