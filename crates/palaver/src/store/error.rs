//! What a database error means to the caller: a unique index refused the row, the
//! database cannot be reached (nothing is wrong with the request: retry later), or
//! something else. Classified once here, from sqlx's error and the backend's own codes.

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique index refused the write; the string names the index or constraint.
    #[error("unique violation: {0}")]
    UniqueViolation(String),
    /// The database cannot serve now: unreachable, out of connections, shutting down or
    /// read-only after a failover. The request may succeed as it is once it is back.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            // PostgreSQL names the constraint; SQLite only says it in the message.
            let which = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
            return Error::UniqueViolation(which);
        }
        if is_unavailable(&e) { Error::Unavailable(e) } else { Error::Database(e) }
    }
}

impl Error {
    /// Whether the error is about one row's data (a constraint refused it, a value the
    /// column cannot hold, a stored row that does not decode), so the other items of a
    /// failed batch may still succeed on their own. Anything else would fail them too.
    pub fn is_row_error(&self) -> bool {
        match self {
            Error::UniqueViolation(_) => true,
            Error::Database(sqlx::Error::Database(db)) => is_row_fault(db.as_ref()),
            Error::Database(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::Encode(_)) => true,
            _ => false,
        }
    }
}

/// Errors of the connection rather than the statement: the database is down, unreachable
/// or refusing work, whatever was asked.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                pg_unavailable(pg.code())
            } else if let Some(code) = db.try_downcast_ref::<SqliteError>().and_then(|e| e.code()) {
                code.parse().is_ok_and(sqlite_unavailable)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// SQLSTATE codes (PostgreSQL appendix A) of a database that cannot serve.
fn pg_unavailable(code: &str) -> bool {
    // 08: connection exception; 53: insufficient resources (disk full, out of memory, too
    // many connections); 58: system error (I/O).
    matches!(code.get(..2), Some("08" | "53" | "58"))
        // admin_shutdown, crash_shutdown, cannot_connect_now (starting up or recovering)
        || matches!(code, "57P01" | "57P02" | "57P03")
        // read_only_sql_transaction: a standby, e.g. the old primary after a failover
        || code == "25006"
}

/// SQLite's primary result codes (the low byte of the extended code) of a file that cannot
/// be written now.
fn sqlite_unavailable(extended: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    matches!(extended & 0xff, BUSY | LOCKED | NOMEM | IOERR | FULL | CANTOPEN)
}

fn is_row_fault(db: &dyn DatabaseError) -> bool {
    if !matches!(db.kind(), ErrorKind::Other) {
        return true; // unique, foreign key, not null, check
    }
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        // 22: data exception (a value the column refuses, e.g. 22021 a NUL byte in text);
        // 23: integrity constraint violation.
        return matches!(pg.code().get(..2), Some("22" | "23"));
    }
    if let Some(code) = db.try_downcast_ref::<SqliteError>().and_then(|e| e.code()) {
        const TOOBIG: i32 = 18;
        const CONSTRAINT: i32 = 19;
        const MISMATCH: i32 = 20;
        const RANGE: i32 = 25;
        return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, TOOBIG | CONSTRAINT | MISMATCH | RANGE));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailable_and_not_row_errors() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            sqlx::Error::Protocol("unexpected end of stream".into()),
        ] {
            let e = Error::from(e);
            assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
            assert!(!e.is_row_error(), "{e:?}");
        }
    }

    #[test]
    fn sqlstates_of_a_database_that_cannot_serve() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300", "53100", "58030", "25006"] {
            assert!(pg_unavailable(code), "{code}");
        }
        for code in ["22021", "23505", "23503", "40001", "42601", "57014"] {
            assert!(!pg_unavailable(code), "{code}");
        }
    }

    #[test]
    fn sqlite_codes_by_their_primary_byte() {
        assert!(sqlite_unavailable(5)); // SQLITE_BUSY
        assert!(sqlite_unavailable(517)); // SQLITE_BUSY_SNAPSHOT
        assert!(sqlite_unavailable(3850)); // SQLITE_IOERR_LOCK
        assert!(!sqlite_unavailable(19)); // SQLITE_CONSTRAINT
        assert!(!sqlite_unavailable(2067)); // SQLITE_CONSTRAINT_UNIQUE
    }

    #[test]
    fn other_errors_are_neither() {
        let e = Error::from(sqlx::Error::RowNotFound);
        assert!(matches!(e, Error::Database(_)) && !e.is_row_error(), "{e:?}");
    }
}
