//! The services' error: what went wrong in the chat domain's terms. `http::problem` maps it
//! to problem+json in one place; the WebSocket maps it to `error` frames.

use palaver_protocol::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// Missing, or not the caller's to see: never tells which.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409, with a code of its own for the conflicts a client acts on.
    #[error("{}", .0.detail())]
    Conflict(Conflict),
    /// The request body is over a size limit: 413.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// The body is not of a kind this endpoint accepts: 415.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    /// A dependency (the database, the password hasher, ...) cannot serve now: 503 with
    /// `Retry-After`. `what` says which, for the client's `detail`.
    #[error("{what} is unavailable; retry in {} s", retry_secs(*.retry_after))]
    Unavailable { what: &'static str, retry_after: std::time::Duration },
    /// The caller is over a rate limit: 429 with `Retry-After`.
    #[error("too many requests; retry in {} s", retry_secs(*.retry_after))]
    RateLimited { retry_after: std::time::Duration },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whole seconds for `Retry-After`, never 0 (a client would retry at once).
pub fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

fn summary(errors: &[FieldError]) -> String {
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    format!("invalid {}", fields.join(", "))
}

impl Error {
    /// How long the client should wait before retrying, for errors that have one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::Unavailable { retry_after, .. } | Error::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }

    /// A 422 listing every field that failed to parse, so a client learns all at once.
    pub fn fields<const N: usize>(errors: [Option<FieldError>; N]) -> Self {
        Error::Validation(errors.into_iter().flatten().collect())
    }

    /// The stable code clients match on (also the problem `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(conflict) => conflict.code(),
            Error::TooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Validation(_) => "validation_failed",
            Error::Unavailable { .. } => "unavailable",
            Error::RateLimited { .. } => "rate_limited",
            Error::Internal(_) => "internal",
        }
    }
}

/// What a request conflicts with. Clients match on the code (`docs/rest.md` lists them); the
/// detail says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    UsernameTaken,
    EmailTaken,
    /// The conversation has a reply running (on any instance).
    ReplyRunning,
    /// The upload is attached to a message already.
    UploadAttached,
    /// The message is deleted: it takes no reactions.
    MessageDeleted,
    /// The message has the most distinct reactions it takes.
    TooManyReactions,
    /// Any other conflict: code `conflict`, and this detail.
    Other(&'static str),
}

impl Conflict {
    pub fn code(self) -> &'static str {
        match self {
            Conflict::UsernameTaken => "username_taken",
            Conflict::EmailTaken => "email_taken",
            Conflict::ReplyRunning => "reply_running",
            Conflict::UploadAttached => "upload_attached",
            Conflict::MessageDeleted => "message_deleted",
            Conflict::TooManyReactions => "too_many_reactions",
            Conflict::Other(_) => "conflict",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Conflict::UsernameTaken => "that username is taken",
            Conflict::EmailTaken => "that email is already registered",
            Conflict::ReplyRunning => "a reply is already running in this conversation",
            Conflict::UploadAttached => "this upload is already attached to a message",
            Conflict::MessageDeleted => "the message is deleted",
            Conflict::TooManyReactions => "a message takes at most 20 distinct reactions",
            Conflict::Other(detail) => detail,
        }
    }
}

impl From<Conflict> for Error {
    fn from(conflict: Conflict) -> Self {
        Error::Conflict(conflict)
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Validation(vec![e])
    }
}

/// How soon a client should retry while the database is down: the outages worth riding
/// out (a restart, a failover, a network blip) last seconds.
pub const DATABASE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The one place a storage error becomes a service error: an unreachable database is 503
/// for every endpoint, anything unexpected is internal.
impl From<crate::store::Error> for Error {
    fn from(e: crate::store::Error) -> Self {
        match e {
            crate::store::Error::Unavailable(cause) => {
                tracing::debug!(error = %cause, "database unavailable");
                Error::Unavailable { what: "database", retry_after: DATABASE_RETRY_AFTER }
            }
            other => Error::Internal(other.into()),
        }
    }
}
