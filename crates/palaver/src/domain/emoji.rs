//! What a reaction may be: one emoji (a single grapheme, at most 32 bytes) or a
//! `:shortcode:`. Recognised by structure (pictographs, flags, keycaps, with their
//! modifiers and zero-width joins), so a letter, a word or two emoji are refused.

use palaver_protocol::FieldError;

use super::field_error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

impl Emoji {
    pub const MAX_BYTES: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if is_shortcode(raw) || (raw.len() <= Self::MAX_BYTES && is_one_emoji(raw)) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(field_error(
                "emoji",
                "must be one emoji (at most 32 bytes) or a :shortcode: of 1 to 32 of a-z, 0-9, _, + and -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn is_shortcode(raw: &str) -> bool {
    let Some(name) = raw.strip_prefix(':').and_then(|rest| rest.strip_suffix(':')) else { return false };
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-'))
}

/// Pictographs (Unicode's Extended_Pictographic, the blocks that hold emoji).
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x2194..=0x2199 | 0x21A9..=0x21AA
        | 0x231A..=0x231B | 0x2328 | 0x23CF | 0x23E9..=0x23F3 | 0x23F8..=0x23FA | 0x24C2
        | 0x25AA..=0x25AB | 0x25B6 | 0x25C0 | 0x25FB..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935
        | 0x2B05..=0x2B07 | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x1F000..=0x1F0FF | 0x1F10D..=0x1F10F | 0x1F12F | 0x1F16C..=0x1F171 | 0x1F17E..=0x1F17F
        | 0x1F18E | 0x1F191..=0x1F19A | 0x1F1AD..=0x1F1E5 | 0x1F201..=0x1F20F | 0x1F21A | 0x1F22F
        | 0x1F232..=0x1F23A | 0x1F23C..=0x1F23F | 0x1F249..=0x1F3FA | 0x1F400..=0x1F53D
        | 0x1F546..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F774..=0x1F77F | 0x1F7D5..=0x1F7FF
        | 0x1F80C..=0x1F80F | 0x1F848..=0x1F84F | 0x1F85A..=0x1F85F | 0x1F888..=0x1F88F
        | 0x1F8AE..=0x1F8FF | 0x1F90C..=0x1F93A | 0x1F93C..=0x1F945 | 0x1F947..=0x1FAFF
        | 0x1FC00..=0x1FFFD)
}

/// What may follow a pictograph in the same grapheme: variation selectors, skin tones,
/// tags (subdivision flags), the keycap mark.
fn is_modifier(c: char) -> bool {
    matches!(c as u32, 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F | 0x20E3)
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

fn is_one_emoji(raw: &str) -> bool {
    let chars: Vec<char> = raw.chars().collect();
    match chars.as_slice() {
        // A flag: exactly two regional indicators.
        [a, b] if is_regional_indicator(*a) && is_regional_indicator(*b) => true,
        // A keycap: a digit, '#' or '*', an optional variation selector, the keycap mark.
        [base, rest @ ..] if base.is_ascii_digit() || matches!(base, '#' | '*') => {
            matches!(rest, ['\u{20E3}'] | ['\u{FE0F}', '\u{20E3}'])
        }
        // Pictographs with their modifiers, joined by zero-width joiners.
        _ => raw.split('\u{200D}').all(|part| {
            let mut cs = part.chars();
            cs.next().is_some_and(is_pictograph) && cs.all(is_modifier)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_or_a_shortcode() {
        for ok in [
            "👍",
            "👍🏽",
            "❤️",
            "🇫🇷",
            "1️⃣",
            "#⃣",
            "👩‍👩‍👧‍👦",
            "🏳️‍🌈",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            ":thumbsup:",
            ":+1:",
            ":a-b_c:",
        ] {
            assert!(Emoji::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "a",
            "ab",
            "👍👍",
            "👍 ",
            " 👍",
            "🇫",
            "🇫🇷🇫",
            "1",
            "::",
            ":Thumbs:",
            ":a b:",
            ":a",
            "a:",
            "\u{200D}",
            "👍\u{200D}",
            "\u{FE0F}",
            "hello",
            "<script>",
        ] {
            assert!(Emoji::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Emoji::parse(&format!(":{}:", "a".repeat(32))).is_ok());
        assert!(Emoji::parse(&format!(":{}:", "a".repeat(33))).is_err());
        // Nine joined pictographs: one grapheme, but over 32 bytes.
        assert!(Emoji::parse(&["👩"; 9].join("\u{200D}")).is_err());
    }
}
