//! The store's one error type, and what an operator should do about each SQLite failure.

use std::fmt;
use std::path::PathBuf;

use rusqlite::ErrorCode;

/// Why a store operation failed.
///
/// Each variant names the database path where it helps the operator, and the SQLite failure is
/// kept as a typed [`SqliteCause`] (for tests and for deciding whether to retry) plus SQLite's own
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or set up (WAL mode, pragmas, reading the schema).
    #[error("cannot open the store {}: {message} ({}: {})", path.display(), cause.as_str(), cause.advice())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What kind of failure.
        cause: SqliteCause,
        /// SQLite's message.
        message: String,
    },
    /// The file was written by a newer Switchboard: its schema version is past the last
    /// migration this build knows. Nothing was changed in it.
    #[error(
        "the store {} has schema version {found}, newer than the {supported} this switchboard \
         knows: run the newer switchboard that wrote it, or point [store] path at another file",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: u32,
        /// The newest version this build can read and write.
        supported: u32,
    },
    /// Another store (in this process or another, e.g. a second `switchboard serve`) has the
    /// file open for writing.
    #[error(
        "the store {} is in use by another switchboard{}: stop it, or point [store] path at \
         another file",
        path.display(),
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// The process id written in the lock file, when readable.
        holder: Option<u32>,
    },
    /// A read-only [`crate::Reader`] opened a file that no [`crate::Store`] has migrated to
    /// this version yet (an empty file, or one from an older Switchboard).
    #[error(
        "the store {} has schema version {found}, older than the {supported} this reader needs: \
         start the switch once (it migrates the file) and read again",
        path.display()
    )]
    OlderSchema {
        /// The database file.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A migration script failed; its transaction was rolled back, so the file is still at
    /// `version - 1`.
    #[error("cannot migrate the store {} to schema version {version}: {message}", path.display())]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version whose script failed.
        version: u32,
        /// What kind of failure.
        cause: SqliteCause,
        /// SQLite's message.
        message: String,
    },
    /// A batch of writes could not be committed. The writer thread keeps the writes and retries
    /// them; this error only says they are not durable yet.
    #[error(
        "cannot write to the store {}: {message} ({}: {}); the writes are kept and retried",
        path.display(), cause.as_str(), cause.advice()
    )]
    Write {
        /// The database file.
        path: PathBuf,
        /// What kind of failure.
        cause: SqliteCause,
        /// SQLite's message.
        message: String,
    },
    /// SQLite refused this one write for good (a constraint, a value out of range); it was
    /// logged and dropped, the writes around it were committed.
    #[error("the store {} refused a write: {message}", path.display())]
    Rejected {
        /// The database file.
        path: PathBuf,
        /// What kind of failure.
        cause: SqliteCause,
        /// SQLite's message.
        message: String,
    },
    /// The writer thread stopped before this write could be committed (the store was shut
    /// down while the disk was failing).
    #[error("the store {} stopped with {lost} writes not committed", path.display())]
    Lost {
        /// The database file.
        path: PathBuf,
        /// How many writes were not committed.
        lost: usize,
    },
    /// A query of a [`crate::Reader`] failed.
    #[error("cannot read the store {}: {message}", path.display())]
    Read {
        /// The database file.
        path: PathBuf,
        /// What kind of failure.
        cause: SqliteCause,
        /// SQLite's message.
        message: String,
    },
    /// A stored row holds a value this build cannot turn back into its type.
    #[error("the store {} holds a row this switchboard cannot read: {table} row {row}: {detail}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// Its rowid (`seq` for events, `id` for calls).
        row: i64,
        /// What is wrong with it.
        detail: String,
    },
    /// The value cannot be stored: an ACD event kind added after this crate was written, or a
    /// duration past 292 years. Returned by the sending call; nothing was queued.
    #[error("cannot store {what}: this switchboard-store does not know how")]
    Unsupported {
        /// What was refused.
        what: String,
    },
    /// [`crate::Writer::try_send`] found the queue full.
    #[error("the store's write queue is full")]
    Full,
    /// The writer thread is gone (it stopped after a panic or at shutdown).
    #[error("the store's writer thread has stopped")]
    Closed,
}

/// The kind of an SQLite failure, as far as an operator's action is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqliteCause {
    /// `SQLITE_FULL`: the disk (or the configured `max_db_bytes`) is full.
    DiskFull,
    /// `SQLITE_READONLY` or `SQLITE_PERM`: the file, its `-wal`/`-shm` or its directory is not
    /// writable.
    ReadOnly,
    /// `SQLITE_CANTOPEN`: the file or its directory cannot be opened or created.
    CannotOpen,
    /// `SQLITE_BUSY`/`SQLITE_LOCKED`: another process held the write lock past the busy timeout.
    Busy,
    /// `SQLITE_IOERR`: the operating system failed a read, write or sync.
    Io,
    /// `SQLITE_CORRUPT`/`SQLITE_NOTADB`: the file is damaged or not an SQLite database.
    Corrupt,
    /// A constraint, type or size violation: the write itself is wrong and retrying cannot help.
    Refused,
    /// Anything else.
    Other,
}

impl SqliteCause {
    /// Classifies a rusqlite error.
    pub(crate) fn of(err: &rusqlite::Error) -> Self {
        let Some(code) = err.sqlite_error_code() else {
            // Conversion errors raised by rusqlite before SQLite saw the value.
            return Self::Refused;
        };
        match code {
            ErrorCode::DiskFull => Self::DiskFull,
            ErrorCode::ReadOnly | ErrorCode::PermissionDenied => Self::ReadOnly,
            ErrorCode::CannotOpen => Self::CannotOpen,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Self::Busy,
            ErrorCode::SystemIoFailure | ErrorCode::NoLargeFileSupport => Self::Io,
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Self::Corrupt,
            ErrorCode::ConstraintViolation
            | ErrorCode::TypeMismatch
            | ErrorCode::TooBig
            | ErrorCode::ParameterOutOfRange => Self::Refused,
            _ => Self::Other,
        }
    }

    /// Whether retrying the same write later may succeed (the disk frees up, the lock is
    /// released, the permissions are fixed).
    #[must_use]
    pub fn is_transient(self) -> bool {
        !matches!(self, Self::Refused)
    }

    /// A short name for logs: `disk-full`, `read-only`, …
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiskFull => "disk-full",
            Self::ReadOnly => "read-only",
            Self::CannotOpen => "cannot-open",
            Self::Busy => "busy",
            Self::Io => "io",
            Self::Corrupt => "corrupt",
            Self::Refused => "refused",
            Self::Other => "other",
        }
    }

    /// What the operator should do.
    #[must_use]
    pub fn advice(self) -> &'static str {
        match self {
            Self::DiskFull => {
                "free space on the volume that holds the store (or raise [store] max_db_bytes)"
            }
            Self::ReadOnly => {
                "make the file, its -wal and -shm files and their directory writable by the \
                 switchboard user"
            }
            Self::CannotOpen => {
                "check that the directory exists and that the switchboard user may create files in it"
            }
            Self::Busy => "another process holds the database's write lock; stop it",
            Self::Io => "the disk reported an I/O error; check the system log and the disk",
            Self::Corrupt => {
                "the file is damaged or not a switchboard store: restore a backup or move it aside"
            }
            Self::Refused => "this is a bug in switchboard; please report it with this log line",
            Self::Other => "see SQLite's message",
        }
    }
}

impl fmt::Display for SqliteCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds the variants that carry a cause and a message from a rusqlite error.
pub(crate) fn sqlite(
    make: fn(PathBuf, SqliteCause, String) -> StoreError,
    path: &std::path::Path,
    err: &rusqlite::Error,
) -> StoreError {
    make(path.to_owned(), SqliteCause::of(err), err.to_string())
}

/// [`StoreError::Open`] as a constructor function for [`sqlite`].
pub(crate) fn open(path: PathBuf, cause: SqliteCause, message: String) -> StoreError {
    StoreError::Open {
        path,
        cause,
        message,
    }
}

/// [`StoreError::Write`] as a constructor function for [`sqlite`].
pub(crate) fn write(path: PathBuf, cause: SqliteCause, message: String) -> StoreError {
    StoreError::Write {
        path,
        cause,
        message,
    }
}

/// [`StoreError::Rejected`] as a constructor function for [`sqlite`].
pub(crate) fn rejected(path: PathBuf, cause: SqliteCause, message: String) -> StoreError {
    StoreError::Rejected {
        path,
        cause,
        message,
    }
}

/// [`StoreError::Read`] as a constructor function for [`sqlite`].
pub(crate) fn read(path: PathBuf, cause: SqliteCause, message: String) -> StoreError {
    StoreError::Read {
        path,
        cause,
        message,
    }
}
