//! What a search asks for, parsed once from `q`: words that must all match (whole words),
//! `"phrases"`, a trailing `*` for a prefix, `-` to exclude. Every part is made of the same
//! terms messages are indexed as (`terms`), so a part that folds to several terms (`e-mail`,
//! `中文搜索`) is a phrase of them. The stores render a `Query` into their own syntax from
//! terms that hold only letters and digits, so no input reaches an FTS parser as syntax.

use palaver_protocol::FieldError;

use super::terms::tokens;
use crate::domain::valid_text;

/// Longest `q`, in characters.
pub const MAX_CHARS: usize = 256;
/// Most parts in one query: each is an index lookup.
const MAX_PARTS: usize = 16;

/// One part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A whole word.
    Word(String),
    /// Words starting with this.
    Prefix(String),
    /// These terms in a row; `prefix`: the last one is a prefix.
    Phrase { terms: Vec<String>, prefix: bool },
}

impl Term {
    /// Every term this part names, in order.
    pub fn terms(&self) -> Vec<&str> {
        match self {
            Term::Word(t) | Term::Prefix(t) => vec![t.as_str()],
            Term::Phrase { terms, .. } => terms.iter().map(String::as_str).collect(),
        }
    }
}

/// A parsed query: every `must` part matches, no `not` part does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub must: Vec<Term>,
    pub not: Vec<Term>,
}

fn invalid(message: impl Into<String>) -> FieldError {
    FieldError { field: "q".into(), message: message.into() }
}

impl Query {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let q = valid_text("q", raw)?;
        let len = q.chars().count();
        if q.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        if len > MAX_CHARS {
            return Err(invalid(format!("must be at most {MAX_CHARS} characters")));
        }
        let mut query = Query { must: Vec::new(), not: Vec::new() };
        let mut rest = q.trim_start();
        while !rest.is_empty() {
            let (negated, after_sign) = match rest.strip_prefix('-') {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let (part, prefix, remaining) = if let Some(inner) = after_sign.strip_prefix('"') {
                let Some(close) = inner.find('"') else { return Err(invalid("has a quote that is not closed")) };
                let after = &inner[close + 1..];
                let prefix = after.starts_with('*');
                let after = if prefix { &after[1..] } else { after };
                if !after.is_empty() && !after.starts_with(char::is_whitespace) {
                    return Err(invalid("a closing quote must end the phrase"));
                }
                (&inner[..close], prefix, after)
            } else {
                let end = after_sign.find(char::is_whitespace).unwrap_or(after_sign.len());
                let word = &after_sign[..end];
                let (word, prefix) = match word.strip_suffix('*') {
                    Some(stem) => (stem, true),
                    None => (word, false),
                };
                if word.contains('"') {
                    return Err(invalid("has a quote that is not closed"));
                }
                if word.contains('*') {
                    return Err(invalid("`*` goes at the end of a word, for a prefix"));
                }
                (word, prefix, &after_sign[end..])
            };
            let terms: Vec<String> = tokens(part).into_iter().map(|t| t.term).collect();
            let term = match terms.len() {
                0 if part.trim().is_empty() => {
                    let what = if negated {
                        "`-`"
                    } else if prefix {
                        "`*`"
                    } else {
                        "an empty phrase"
                    };
                    return Err(invalid(format!("{what} must be followed by a word")));
                }
                // Only punctuation or symbols (`&`, `|`): nothing is indexed that it could
                // match, so it narrows nothing.
                0 => {
                    rest = remaining.trim_start();
                    continue;
                }
                1 if prefix => Term::Prefix(terms.into_iter().next().unwrap_or_default()),
                1 => Term::Word(terms.into_iter().next().unwrap_or_default()),
                _ => Term::Phrase { terms, prefix },
            };
            if negated {
                query.not.push(term)
            } else {
                query.must.push(term)
            }
            rest = remaining.trim_start();
        }
        if query.must.is_empty() {
            let why = if query.not.is_empty() { "not only words to exclude" } else { "letters or digits" };
            return Err(invalid(format!("needs at least one word to find ({why})")));
        }
        if query.must.len() + query.not.len() > MAX_PARTS {
            return Err(invalid(format!("has more than {MAX_PARTS} words and phrases")));
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(t: &str) -> Term {
        Term::Word(t.into())
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let q = Query::parse(r#"Deploy "Release Notes" stag* -Friday -"on call""#).unwrap();
        assert_eq!(
            q.must,
            vec![
                word("deploy"),
                Term::Phrase { terms: vec!["release".into(), "notes".into()], prefix: false },
                Term::Prefix("stag".into()),
            ]
        );
        assert_eq!(
            q.not,
            vec![word("friday"), Term::Phrase { terms: vec!["on".into(), "call".into()], prefix: false }]
        );
        assert_eq!(
            Query::parse("e-mail").unwrap().must,
            vec![Term::Phrase { terms: vec!["e".into(), "mail".into()], prefix: false }]
        );
        assert_eq!(Query::parse("搜索").unwrap().must, vec![word("搜索")]);
        assert_eq!(
            Query::parse("中文搜索").unwrap().must,
            vec![Term::Phrase { terms: vec!["中文".into(), "文搜".into(), "搜索".into()], prefix: false }]
        );
        assert_eq!(Query::parse("  café  ").unwrap().must, vec![word("cafe")]);
    }

    #[test]
    fn bad_queries_say_why() {
        for bad in ["", "   ", "\"unclosed", "a\"b", "-", "*", "a -", "-word", "-a -b", "!!!", "a*b", "\"\"", "x\0y"] {
            let e = Query::parse(bad).expect_err(bad);
            assert_eq!(e.field, "q");
            assert!(!e.message.is_empty(), "{bad:?}");
        }
        assert!(Query::parse(&"a ".repeat(200)).is_err(), "over 256 characters");
        assert!(Query::parse(&"ab ".repeat(17)).is_err(), "too many parts");
        assert!(Query::parse(&"é".repeat(256)).is_ok());
    }
}
