//! Text to search terms. A word is a run of letters and digits (with the marks that combine
//! with them), folded to lower case without accents (NFKD, combining marks dropped), so
//! `Café`, `CAFE` and `cafe` are one term. Chinese and Japanese are written without
//! spaces: a run of their characters becomes its overlapping pairs (`中文搜索` is `中文`,
//! `文搜`, `搜索`), so any 2 or more of them in a row are found as consecutive pairs,
//! wherever they occur. A lone such character is a term of its own.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest term kept, in characters: longer runs (a pasted hash, base64) are cut here.
const MAX_TERM_CHARS: usize = 64;

/// One term of a text, with where it came from (byte offsets into the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub term: String,
    pub start: usize,
    pub end: usize,
}

/// Scripts written without spaces between words.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x309F        // Hiragana
        | 0x30A0..=0x30FF      // Katakana
        | 0x31F0..=0x31FF      // Katakana phonetic extensions
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFF66..=0xFF9F      // half-width Katakana
        | 0x20000..=0x2FA1F) // CJK extensions B to F, compatibility supplement
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Unspaced,
    Other,
}

fn class(c: char) -> Class {
    if is_unspaced(c) {
        Class::Unspaced
    } else if c.is_alphanumeric() || is_combining_mark(c) {
        Class::Word
    } else {
        Class::Other
    }
}

/// A word folded: decomposed, marks dropped, lower case, letters and digits only.
fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase) {
        if c.is_alphanumeric() && !is_unspaced(c) {
            folded.push(c);
        }
    }
    folded.chars().take(MAX_TERM_CHARS).collect()
}

/// Fullwidth and halfwidth forms to their usual ones (NFKC), for the unspaced scripts.
fn fold_unspaced(c: char) -> String {
    std::iter::once(c).nfkc().collect()
}

/// The terms of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut run: Option<(Class, usize)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let k = class(c);
        let start = match run {
            Some((kind, start)) if kind == k => start,
            _ => i,
        };
        run = Some((k, start));
        let end = i + c.len_utf8();
        let next_same = chars.peek().is_some_and(|&(_, n)| class(n) == k);
        if next_same {
            continue;
        }
        run = None;
        match k {
            Class::Word => {
                let term = fold(&text[start..end]);
                if !term.is_empty() {
                    out.push(Token { term, start, end });
                }
            }
            Class::Unspaced => unspaced(text, start, end, &mut out),
            Class::Other => {}
        }
    }
    out
}

/// A run of unspaced characters as its overlapping pairs (or one term if it is one).
fn unspaced(text: &str, start: usize, end: usize, out: &mut Vec<Token>) {
    let chars: Vec<(usize, char)> = text[start..end].char_indices().map(|(i, c)| (start + i, c)).collect();
    if let [(at, c)] = chars.as_slice() {
        out.push(Token { term: fold_unspaced(*c), start: *at, end: at + c.len_utf8() });
        return;
    }
    for pair in chars.windows(2) {
        let [(a, first), (b, second)] = [pair[0], pair[1]];
        let term = format!("{}{}", fold_unspaced(first), fold_unspaced(second));
        out.push(Token { term, start: a, end: b + second.len_utf8() });
    }
}

/// What a message's text is indexed as: its terms, in order, separated by single spaces.
pub fn index_text(text: &str) -> String {
    let terms: Vec<String> = tokens(text).into_iter().map(|t| t.term).collect();
    terms.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn words_fold_case_and_accents() {
        assert_eq!(terms("Café CAFE naïve Ærø"), vec!["cafe", "cafe", "naive", "ærø"]);
        assert_eq!(terms("Straße, déjà-vu! e-mail"), vec!["straße", "deja", "vu", "e", "mail"]);
        assert_eq!(terms("v2.0 — 42%"), vec!["v2", "0", "42"]);
        assert_eq!(terms("ＡＢＣ ﬁne"), vec!["abc", "fine"], "compatibility forms fold");
        assert_eq!(terms("Привет мир"), vec!["привет", "мир"]);
        assert!(terms("... !!! 👍").is_empty());
    }

    #[test]
    fn unspaced_scripts_become_overlapping_pairs() {
        assert_eq!(terms("中文搜索"), vec!["中文", "文搜", "搜索"]);
        assert_eq!(terms("我"), vec!["我"]);
        assert_eq!(terms("東京タワーへ行く"), vec!["東京", "京タ", "タワ", "ワー", "ーへ", "へ行", "行く"]);
        assert_eq!(terms("用Rust写的"), vec!["用", "rust", "写的"]);
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "Hé, 中文!";
        let spans: Vec<&str> = tokens(text).iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(spans, vec!["Hé", "中文"]);
        assert_eq!(index_text("Hello  Wörld"), "hello world");
        let long = "a".repeat(100);
        assert_eq!(tokens(&long)[0].term.chars().count(), MAX_TERM_CHARS);
    }
}
