//! What a database error means to the caller: a unique index refused the row (and which
//! one, by its name in the migrations), the database cannot be reached (nothing is wrong
//! with the request: retry later), or something else. Classified once here, from sqlx's
//! error and the backend's own codes.

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique index refused the write.
    #[error("unique violation: {0:?}")]
    UniqueViolation(Unique),
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
            return Error::UniqueViolation(Unique::of(db.as_ref()));
        }
        if is_unavailable(&e) { Error::Unavailable(e) } else { Error::Database(e) }
    }
}

/// The unique indexes a service tells apart (the rest are `Other`, with what the database
/// said), so a refused write becomes the caller's error without a racy check beforehand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unique {
    /// `users_username_unique`: the username is taken (case-insensitively).
    Username,
    /// `users_email_unique`: the email is registered already (case-insensitively).
    Email,
    /// `chat_messages_one_running`: the conversation has a running reply (on any instance).
    RunningReply,
    /// `messages_upload_unique`: the upload is attached to a message already.
    MessageUpload,
    Other(String),
}

/// An index by the names the backends give it: PostgreSQL's constraint name, and what
/// follows "UNIQUE constraint failed: " in SQLite's message (the index's name for an index on
/// an expression, its `table.column`s for one on columns).
struct Index {
    postgres: &'static str,
    sqlite: &'static str,
    unique: Unique,
}

const INDEXES: [Index; 4] = [
    Index { postgres: "users_username_unique", sqlite: "index 'users_username_unique'", unique: Unique::Username },
    Index { postgres: "users_email_unique", sqlite: "index 'users_email_unique'", unique: Unique::Email },
    Index {
        postgres: "chat_messages_one_running",
        sqlite: "chat_messages.conversation_id",
        unique: Unique::RunningReply,
    },
    Index { postgres: "messages_upload_unique", sqlite: "messages.upload_id", unique: Unique::MessageUpload },
];

impl Unique {
    fn of(db: &dyn DatabaseError) -> Self {
        // PostgreSQL names the constraint; SQLite only says it in the message.
        let (name, found) = match db.constraint() {
            Some(name) => (name, INDEXES.iter().find(|index| index.postgres == name)),
            None => {
                let name = db.message().strip_prefix("UNIQUE constraint failed: ").unwrap_or(db.message());
                (name, INDEXES.iter().find(|index| index.sqlite == name))
            }
        };
        found.map_or_else(|| Unique::Other(name.to_owned()), |index| index.unique.clone())
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
