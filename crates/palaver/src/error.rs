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
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unavailable(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn summary(errors: &[FieldError]) -> String {
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    format!("invalid {}", fields.join(", "))
}

impl Error {
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
            Error::Conflict(_) => "conflict",
            Error::Validation(_) => "validation_failed",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<crate::store::Error> for Error {
    fn from(e: crate::store::Error) -> Self {
        Error::Internal(e.into())
    }
}
