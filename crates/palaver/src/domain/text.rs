//! What every piece of text a client sends must satisfy, whatever it is for, and what counts
//! as blank around it.

use palaver_protocol::FieldError;

use super::field_error;

/// `raw` if the server accepts it as text. NUL is refused everywhere: PostgreSQL cannot store it in
/// `text` (SQLite can), and no one types it, so both backends must refuse it alike.
pub fn valid_text<'a>(field: &str, raw: &'a str) -> Result<&'a str, FieldError> {
    if raw.contains('\0') {
        return Err(field_error(field, "must not contain NUL characters"));
    }
    Ok(raw)
}

/// `raw` without leading and trailing whitespace or invisible characters, so a name or a
/// message made only of zero-width spaces is empty.
pub fn trimmed(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() || is_invisible(c))
}

/// Characters that render as nothing: Unicode's default-ignorable code points (zero-width
/// spaces and joiners, word joiner, BOM, bidi controls, variation selectors, tags, Hangul
/// fillers, ...) and the blank Braille pattern, a favourite for "empty" names.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_and_names_the_field() {
        assert_eq!(valid_text("name", "a b").unwrap(), "a b");
        let error = valid_text("name", "a\0b").unwrap_err();
        assert_eq!(error.field, "name");
    }

    #[test]
    fn invisible_characters_are_trimmed_like_whitespace() {
        assert_eq!(trimmed("\u{200B}\u{FEFF} \u{2060}\u{200D}\u{3000}"), "");
        assert_eq!(trimmed("\u{200B} hi\u{200C} "), "hi");
        // Inside text they are kept: a joiner inside an emoji sequence is part of it.
        assert_eq!(trimmed(" 👩\u{200D}💻 "), "👩\u{200D}💻");
    }
}
