use palaver_protocol::FieldError;
use uuid::Uuid;

use super::field_error;

/// A page size: 1 to 200, default 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(i64);

impl PageLimit {
    pub const DEFAULT: i64 = 50;
    pub const MAX: i64 = 200;

    pub fn parse(raw: Option<i64>) -> Result<Self, FieldError> {
        Self::parse_with(raw, Self::DEFAULT, Self::MAX)
    }

    pub fn parse_with(raw: Option<i64>, default: i64, max: i64) -> Result<Self, FieldError> {
        match raw {
            None => Ok(Self(default)),
            Some(n) if (1..=max).contains(&n) => Ok(Self(n)),
            Some(_) => Err(field_error("limit", format!("must be between 1 and {max}"))),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An opaque paging cursor: the id of the last item of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub Uuid);

impl Cursor {
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, FieldError> {
        raw.map(|s| {
            Uuid::parse_str(s).map(Cursor).map_err(|_| field_error("cursor", "is not a cursor this server issued"))
        })
        .transpose()
    }

    pub fn encode(id: Uuid) -> String {
        id.simple().to_string()
    }
}
