use palaver_protocol::FieldError;

use super::field_error;
use super::text::{trimmed, valid_text};

/// 1 to 100 characters after trimming whitespace and invisible characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = trimmed(valid_text("name", raw)?);
        let len = name.chars().count();
        if len == 0 {
            return Err(field_error("name", "must not be empty"));
        }
        if len > 100 {
            return Err(field_error("name", "must be at most 100 characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// At most 1000 characters, trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomDescription(String);

impl RoomDescription {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let description = trimmed(valid_text("description", raw)?);
        if description.chars().count() > 1000 {
            return Err(field_error("description", "must be at most 1000 characters"));
        }
        Ok(Self(description.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}
