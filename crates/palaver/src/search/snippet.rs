//! The part of a hit's text to show: about 200 characters around its first match, as plain
//! text segments, with the ones the query matched marked. Found by reading the text's terms
//! again (`terms`), so what is marked is exactly what the index matched.

use std::ops::Range;

use super::query::{Query, Term};
use super::terms::{Token, tokens};

/// Characters shown around the first match.
const WINDOW_CHARS: usize = 200;
/// Of which, before it (so the match is not at the very start of the snippet).
const LEAD_CHARS: usize = 60;

/// `(text, matched)` segments of `content` around the first part `query` matched.
pub fn snippet(content: &str, query: &Query) -> Vec<(String, bool)> {
    let toks = tokens(content);
    let marked = merge(matched_spans(&toks, &query.must));
    let first = marked.first().map_or(0, |r| r.start);
    let window = window(content, first);
    let mut segments = Vec::new();
    let mut at = window.start;
    if window.start > 0 {
        segments.push(("…".to_owned(), false));
    }
    for span in &marked {
        let (start, end) = (span.start.max(window.start), span.end.min(window.end));
        if start >= end {
            continue;
        }
        if at < start {
            segments.push((content[at..start].to_owned(), false));
        }
        segments.push((content[start..end].to_owned(), true));
        at = end;
    }
    if at < window.end {
        segments.push((content[at..window.end].to_owned(), false));
    }
    if window.end < content.len() {
        segments.push(("…".to_owned(), false));
    }
    // Neighbouring plain segments (an ellipsis and its text) read as one.
    segments.dedup_by(|next, prev| {
        let joined = !next.1 && !prev.1;
        if joined {
            prev.0.push_str(&next.0);
        }
        joined
    });
    segments
}

/// Byte ranges of the tokens each part matched.
fn matched_spans(toks: &[Token], parts: &[Term]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for part in parts {
        match part {
            Term::Word(word) => spans.extend(toks.iter().filter(|t| t.term == *word).map(|t| t.start..t.end)),
            Term::Prefix(stem) => {
                spans.extend(toks.iter().filter(|t| t.term.starts_with(stem.as_str())).map(|t| t.start..t.end));
            }
            Term::Phrase { terms, prefix } => {
                for at in 0..toks.len().saturating_sub(terms.len() - 1) {
                    let run = &toks[at..at + terms.len()];
                    let last = terms.len() - 1;
                    let matches = run.iter().zip(terms).enumerate().all(|(i, (tok, term))| {
                        if i == last && *prefix { tok.term.starts_with(term.as_str()) } else { tok.term == *term }
                    });
                    if matches {
                        spans.push(run[0].start..run[last].end);
                    }
                }
            }
        }
    }
    spans
}

fn merge(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// The byte range of at most `WINDOW_CHARS` characters that starts up to `LEAD_CHARS`
/// before `first` (less when the text is short).
fn window(content: &str, first: usize) -> Range<usize> {
    let bounds: Vec<usize> = content.char_indices().map(|(i, _)| i).chain(std::iter::once(content.len())).collect();
    let total = bounds.len() - 1;
    let first_char = bounds.partition_point(|&b| b < first);
    let mut start = first_char.saturating_sub(LEAD_CHARS);
    if total - start < WINDOW_CHARS {
        start = total.saturating_sub(WINDOW_CHARS);
    }
    // Start at a word if one begins near: after the last space within the lead.
    if start > 0
        && let Some(space) = content[bounds[start]..first].find(' ')
    {
        let at = bounds[start] + space + 1;
        start = bounds.partition_point(|&b| b < at);
    }
    let end = (start + WINDOW_CHARS).min(total);
    bounds[start]..bounds[end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(content: &str, q: &str) -> String {
        let query = Query::parse(q).unwrap();
        snippet(content, &query).into_iter().map(|(t, m)| if m { format!("[{t}]") } else { t }).collect()
    }

    #[test]
    fn marks_words_prefixes_and_phrases() {
        assert_eq!(show("Deploying the Café release", "cafe deploy*"), "[Deploying] the [Café] release");
        assert_eq!(show("release notes, notes release", "\"release notes\""), "[release notes], notes release");
        assert_eq!(show("我们用中文搜索吧", "中文搜索"), "我们用[中文搜索]吧");
        assert_eq!(show("no -excluded here", "here -excluded"), "no -excluded [here]");
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let text = format!("{} needle {}", "lorem ".repeat(100), "ipsum ".repeat(100));
        let shown = show(&text, "needle");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("[needle]"));
        assert!(shown.chars().count() <= WINDOW_CHARS + 4, "{}", shown.chars().count());
        assert!(!shown.starts_with("…orem"), "starts at a word: {shown}");
    }
}
