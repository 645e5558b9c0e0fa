use palaver_protocol::FieldError;

use super::field_error;
use super::text::{trimmed, valid_text};
use super::user::is_username_char;

/// 1 to 4000 characters after trimming whitespace and invisible characters; stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let content = trimmed(valid_text("content", raw)?);
        let len = content.chars().count();
        if len == 0 {
            return Err(field_error("content", "must not be empty"));
        }
        if len > Self::MAX_CHARS {
            return Err(field_error("content", "must be at most 4000 characters"));
        }
        Ok(Self(content.to_owned()))
    }

    /// The caption of an image: like content, but blank means no caption.
    pub fn parse_caption(raw: &str) -> Result<Option<Self>, FieldError> {
        if trimmed(valid_text("content", raw)?).is_empty() { Ok(None) } else { Self::parse(raw).map(Some) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A client's idempotency key: 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = valid_text("client_msg_id", raw)?.chars().count();
        if len == 0 || len > 64 {
            return Err(field_error("client_msg_id", "must be 1 to 64 characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Distinct `@username` mentions in `content`, lowercased, at most `limit` of them.
/// An `@` counts only at the start or after a character that cannot be in a username,
/// so `me@example.com` mentions nobody.
pub fn mentions(content: &str, limit: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in content.char_indices() {
        let starts = c == '@' && prev.is_none_or(|p| !is_username_char(p) && p != '@');
        prev = Some(c);
        if !starts {
            continue;
        }
        let rest = &content[i + 1..];
        let end = rest.find(|ch: char| !is_username_char(ch)).unwrap_or(rest.len());
        // A trailing '.' or '-' is punctuation ("thanks @bob."), not part of the name.
        let name = rest[..end].trim_end_matches(['.', '-']);
        if (3..=32).contains(&name.len()) {
            let name = name.to_ascii_lowercase();
            if !found.contains(&name) {
                found.push(name);
                if found.len() == limit {
                    break;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_trimmed_and_bounded() {
        assert_eq!(MessageContent::parse("  hi  ").unwrap().as_str(), "hi");
        assert!(MessageContent::parse("   ").is_err());
        assert!(MessageContent::parse("\u{200B}\u{FEFF}\u{2060}").is_err());
        assert!(MessageContent::parse("a\0b").is_err());
        assert!(MessageContent::parse(&"é".repeat(4000)).is_ok());
        assert!(MessageContent::parse(&"é".repeat(4001)).is_err());
    }

    #[test]
    fn finds_mentions() {
        assert_eq!(mentions("hi @Bob and @carol.", 20), vec!["bob", "carol"]);
        assert_eq!(mentions("@bob @BOB @bob", 20), vec!["bob"]);
        assert!(mentions("mail me@example.com", 20).is_empty());
        assert!(mentions("@ab is too short", 20).is_empty());
        assert_eq!(mentions("@aaa @bbb @ccc", 2), vec!["aaa", "bbb"]);
        assert_eq!(mentions("(@dave)", 20), vec!["dave"]);
    }
}
