//! What a user may write to the assistant: a conversation's title and a message.

use palaver_protocol::FieldError;

use super::field_error;
use super::text::{trimmed, valid_text};

/// At most 500 characters once trimmed; blank means the default title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTitle(String);

impl ConversationTitle {
    pub const MAX_CHARS: usize = 500;
    pub const DEFAULT: &str = "New conversation";

    /// A title as given at creation: absent or blank is the default.
    pub fn parse_or_default(raw: Option<&str>) -> Result<Self, FieldError> {
        match raw.map(|raw| valid_text("title", raw).map(trimmed)).transpose()? {
            None | Some("") => Ok(Self(Self::DEFAULT.to_owned())),
            Some(_) => Self::parse(raw.unwrap_or_default()),
        }
    }

    /// A title as given to a rename: 1 to 500 characters once trimmed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let title = trimmed(valid_text("title", raw)?);
        match title.chars().count() {
            0 => Err(field_error("title", "must not be empty")),
            n if n > Self::MAX_CHARS => Err(field_error("title", "must be at most 500 characters")),
            _ => Ok(Self(title.to_owned())),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A message to the assistant: 1 to 10,000 characters once trimmed; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

impl ChatText {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = trimmed(valid_text("message", raw)?);
        match text.chars().count() {
            0 => Err(field_error("message", "must not be empty")),
            n if n > Self::MAX_CHARS => Err(field_error("message", "must be at most 10000 characters")),
            _ => Ok(Self(text.to_owned())),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Where a resumed reply stream starts: the `Last-Event-ID` a client sends back, one of the
/// stream's own event ids (whole numbers from 1). No header: from the start (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastEventId(pub usize);

impl LastEventId {
    /// `header`: the header's value, `Err(())` when it is not text.
    pub fn parse(header: Option<Result<&str, ()>>) -> Result<Self, FieldError> {
        let invalid = || field_error("Last-Event-ID", "must be the id of an event of this stream (a whole number)");
        match header {
            None => Ok(Self(0)),
            Some(Ok(value)) => value.trim().parse().map(Self).map_err(|_| invalid()),
            Some(Err(())) => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_event_id_is_a_whole_number_or_absent() {
        assert_eq!(LastEventId::parse(None), Ok(LastEventId(0)));
        assert_eq!(LastEventId::parse(Some(Ok(" 17 "))), Ok(LastEventId(17)));
        for bad in ["", "-1", "1.5", "Bj:{<b", "99999999999999999999999"] {
            assert!(LastEventId::parse(Some(Ok(bad))).is_err(), "{bad:?}");
        }
        assert!(LastEventId::parse(Some(Err(()))).is_err());
    }

    #[test]
    fn titles_and_messages_keep_to_their_limits() {
        assert_eq!(ConversationTitle::parse_or_default(None).unwrap().into_inner(), "New conversation");
        assert_eq!(ConversationTitle::parse_or_default(Some(" \u{200b} ")).unwrap().into_inner(), "New conversation");
        assert_eq!(ConversationTitle::parse_or_default(Some(" Trip ")).unwrap().into_inner(), "Trip");
        assert!(ConversationTitle::parse(&"t".repeat(501)).is_err());
        assert!(ConversationTitle::parse(&"t".repeat(500)).is_ok());
        assert!(ConversationTitle::parse("   ").is_err());
        assert!(ConversationTitle::parse_or_default(Some("a\0b")).is_err());
        assert!(ChatText::parse("").is_err());
        assert!(ChatText::parse(&"x".repeat(10_001)).is_err());
        assert_eq!(ChatText::parse(" hi ").unwrap().into_inner(), "hi");
    }
}
