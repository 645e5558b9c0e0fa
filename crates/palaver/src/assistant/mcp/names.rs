//! Tool names as the model sees them: `<server>__<tool>`.
//!
//! Function-calling APIs accept `^[A-Za-z0-9_-]{1,64}$`, so a server's tool name is rewritten
//! to fit; each server keeps the map back to the name it knows.

pub(super) const SEPARATOR: &str = "__";
const MAX_LEN: usize = 64;

/// Why a server name cannot prefix its tools' names.
pub(super) fn server_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if !name.chars().all(is_allowed) {
        Some("has characters other than A-Z, a-z, 0-9, '_' and '-'")
    } else if name.contains(SEPARATOR) {
        Some("contains \"__\", which separates server from tool")
    } else if name.len() + SEPARATOR.len() >= MAX_LEN {
        Some("leaves no room for tool names within 64 characters")
    } else {
        None
    }
}

/// The name offered to the model, or `None` if even rewritten it is too long.
pub(super) fn exposed(server: &str, tool: &str) -> Option<String> {
    let name: String = server
        .chars()
        .chain(SEPARATOR.chars())
        .chain(tool.chars().map(|c| if is_allowed(c) { c } else { '_' }))
        .collect();
    (!tool.is_empty() && name.len() <= MAX_LEN).then_some(name)
}

/// `("server", "rest")` for a name with the separator in it.
pub(super) fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once(SEPARATOR)
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_rewritten_to_fit() {
        assert_eq!(exposed("everything", "get-sum").as_deref(), Some("everything__get-sum"));
        assert_eq!(exposed("fs", "read.file/v2").as_deref(), Some("fs__read_file_v2"));
        assert_eq!(exposed("fs", &"x".repeat(61)), None);
        assert_eq!(exposed("fs", ""), None);
    }

    #[test]
    fn the_first_separator_ends_the_server_name() {
        assert_eq!(split("everything__get__sum"), Some(("everything", "get__sum")));
        assert_eq!(split("echo"), None);
    }

    #[test]
    fn server_names_must_not_be_ambiguous() {
        assert_eq!(server_name_problem("everything"), None);
        assert!(server_name_problem("").is_some());
        assert!(server_name_problem("my__server").is_some());
        assert!(server_name_problem("my server").is_some());
        assert!(server_name_problem(&"s".repeat(62)).is_some());
    }
}
