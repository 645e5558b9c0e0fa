//! The limits of the text fields, learned by asking the parsers in `domain`, so the document
//! states exactly what the server accepts (lengths, the characters trimmed before counting,
//! the characters refused) and cannot drift from it.

use std::ops::RangeInclusive;

/// What a text parser accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRule {
    /// Fewest and most characters, counted after trimming.
    pub min: usize,
    pub max: usize,
    /// Characters cut from both ends before counting.
    pub trimmed: Vec<RangeInclusive<char>>,
    /// Characters refused anywhere.
    pub refused: Vec<RangeInclusive<char>>,
}

/// Longer than any body the server reads: a parser that accepts this many has no maximum
/// worth stating.
const LONGEST: usize = 1 << 20;

impl TextRule {
    /// Asks `accepts` (the value the server would keep, or `None` when it refuses) about
    /// lengths of a run of 'x' and about every character, at the ends and inside.
    pub fn learn(accepts: impl Fn(&str) -> Option<String>) -> Self {
        let ok = |n: usize| accepts(&"x".repeat(n)).is_some();
        let min = (0..=64).find(|&n| ok(n)).expect("the parser accepts a short run of 'x'");
        // Lengths are accepted from `min` up to `max` and refused beyond: search the edge.
        let (mut good, mut bad) = (min, min.max(1) * 2);
        while bad < LONGEST && ok(bad) {
            (good, bad) = (bad, bad * 2);
        }
        while bad - good > 1 {
            let mid = good + (bad - good) / 2;
            if ok(mid) { good = mid } else { bad = mid }
        }
        let max = good;
        assert!(max >= min.max(2) + 2, "a text rule needs room for probing characters ({min}..={max})");

        let base = "x".repeat(min.max(2));
        let kept = accepts(&base);
        assert_eq!(kept.as_deref(), Some(base.as_str()), "the parser keeps a run of 'x' as it is");
        let chars: Vec<char> = (0..=char::MAX as u32).filter_map(char::from_u32).collect();
        // Refusals are rare: a run of characters inside an accepted value tells about all of
        // them at once, and only a refused run is split to find which.
        let room = max - base.len();
        let mut refused = Ranges::default();
        for run in chars.chunks(room) {
            find_refused(run, &base, &accepts, &mut refused);
        }
        // A value shows only what was trimmed at its two ends, so each probe asks about one
        // character in front and one behind.
        let mut trimmed = Ranges::default();
        let mut probe = String::with_capacity(base.len() + 8);
        for pair in chars.chunks(2) {
            let (front, back) = (pair[0], pair.get(1).copied());
            probe.clear();
            probe.push(front);
            probe.push_str(&base);
            probe.extend(back);
            match accepts(&probe) {
                // A kept character is still there; a trimmed one left an 'x' of `base` showing.
                Some(value) => {
                    if !value.starts_with(front) {
                        trimmed.add(front);
                    }
                    if let Some(back) = back
                        && !value.ends_with(back)
                    {
                        trimmed.add(back);
                    }
                }
                None => {
                    for c in pair {
                        probe.clear();
                        probe.push(*c);
                        probe.push_str(&base);
                        if accepts(&probe) == kept {
                            trimmed.add(*c);
                        }
                    }
                }
            }
        }
        TextRule { min, max, trimmed: trimmed.0, refused: refused.0 }
    }

    /// An ECMA-262 pattern (also read alike by Python's `re` and Rust's `regex`) matching the
    /// values this rule accepts; `None` when `minLength`/`maxLength` alone say it all.
    pub fn pattern(&self) -> Option<String> {
        let inner = class_without(&self.refused);
        if self.trimmed.is_empty() {
            return (!self.refused.is_empty()).then(|| format!("^{inner}*$"));
        }
        let blank = class(&self.trimmed, false);
        let visible = class_without(&merge([&self.refused[..], &self.trimmed[..]].concat()));
        assert!(self.min <= 1 && self.max >= 2, "trimmed rules of at least {} characters are not supported", self.min);
        let body = format!("{visible}(?:{inner}{{0,{}}}{visible})?", self.max - 2);
        let body = if self.min == 0 { format!("(?:{body})?") } else { body };
        Some(format!("^{blank}*{body}{blank}*$"))
    }

    /// `minLength`/`maxLength` as the raw string sees them: trimming lets a longer raw value
    /// through, so then only the minimum holds.
    pub fn length_bounds(&self) -> (Option<usize>, Option<usize>) {
        let min = (self.min > 0).then_some(self.min);
        let max = self.trimmed.is_empty().then_some(self.max);
        (min, max)
    }
}

/// Adds to `refused` the characters of `run` that `accepts` refuses inside a value.
fn find_refused(run: &[char], base: &str, accepts: &impl Fn(&str) -> Option<String>, refused: &mut Ranges) {
    let mut probe = String::with_capacity(base.len() + run.len() * 4);
    probe.push_str(&base[..1]);
    probe.extend(run);
    probe.push_str(&base[1..]);
    if accepts(&probe).is_some() {
        return;
    }
    if let [c] = run {
        refused.add(*c);
        return;
    }
    let (left, right) = run.split_at(run.len() / 2);
    find_refused(left, base, accepts, refused);
    find_refused(right, base, accepts, refused);
}

/// Sorted, merged ranges of characters, built one character at a time in order.
#[derive(Default)]
struct Ranges(Vec<RangeInclusive<char>>);

impl Ranges {
    fn add(&mut self, c: char) {
        if let Some(last) = self.0.last_mut()
            && char::from_u32(*last.end() as u32 + 1) == Some(c)
        {
            *last = *last.start()..=c;
            return;
        }
        self.0.push(c..=c);
    }
}

fn merge(mut ranges: Vec<RangeInclusive<char>>) -> Vec<RangeInclusive<char>> {
    ranges.sort_by_key(|r| *r.start());
    let mut merged: Vec<RangeInclusive<char>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if (*r.start() as u32) <= *last.end() as u32 + 1 => {
                if r.end() > last.end() {
                    *last = *last.start()..=*r.end();
                }
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// Any character except `excluded`: the shorter of `[allowed]` and `[^excluded]`.
fn class_without(excluded: &[RangeInclusive<char>]) -> String {
    if excluded.is_empty() {
        return r"[\s\S]".to_owned();
    }
    let plain = class(&complement(excluded), false);
    let inverted = class(excluded, true);
    if inverted.len() < plain.len() { inverted } else { plain }
}

fn complement(ranges: &[RangeInclusive<char>]) -> Vec<RangeInclusive<char>> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for r in ranges {
        if (*r.start() as u32) > next {
            out.extend(span(next, *r.start() as u32 - 1));
        }
        next = *r.end() as u32 + 1;
    }
    if next <= char::MAX as u32 {
        out.extend(span(next, char::MAX as u32));
    }
    out
}

/// `from..=to` as character ranges, leaving out the surrogates (which are not characters).
fn span(from: u32, to: u32) -> Vec<RangeInclusive<char>> {
    let ok = |n: u32| char::from_u32(n);
    let below = (from < 0xD800).then(|| (from, to.min(0xD7FF)));
    let above = (to > 0xDFFF).then(|| (from.max(0xE000), to));
    [below, above].into_iter().flatten().filter(|(a, b)| a <= b).filter_map(|(a, b)| Some(ok(a)?..=ok(b)?)).collect()
}

fn class(ranges: &[RangeInclusive<char>], negate: bool) -> String {
    let mut out = String::from(if negate { "[^" } else { "[" });
    for r in ranges {
        out.push_str(&escape(*r.start()));
        if r.end() != r.start() {
            if *r.end() as u32 > *r.start() as u32 + 1 {
                out.push('-');
            }
            out.push_str(&escape(*r.end()));
        }
    }
    out.push(']');
    out
}

/// ASCII letters and digits as themselves; other characters of the Basic Multilingual Plane
/// as `\uXXXX`, which every dialect reads; beyond it the character itself, since ECMA-262
/// without the `u` flag has no escape for it.
fn escape(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else if (c as u32) <= 0xFFFF {
        format!("\\u{:04X}", c as u32)
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed_1_to_5(raw: &str) -> Option<String> {
        let t = raw.trim();
        (!raw.contains('\0') && (1..=5).contains(&t.chars().count())).then(|| t.to_owned())
    }

    #[test]
    fn learns_lengths_trimming_and_refusals() {
        let rule = TextRule::learn(trimmed_1_to_5);
        assert_eq!((rule.min, rule.max), (1, 5));
        assert!(rule.trimmed.contains(&(' '..=' ')), "{:?}", rule.trimmed);
        assert!(rule.trimmed.iter().any(|r| r.contains(&'\u{3000}')));
        assert_eq!(rule.refused, vec!['\0'..='\0']);
        assert_eq!(rule.length_bounds(), (Some(1), None));

        let plain = TextRule::learn(|s| (3..=8).contains(&s.chars().count()).then(|| s.to_owned()));
        assert_eq!((plain.min, plain.max), (3, 8));
        assert!(plain.trimmed.is_empty() && plain.refused.is_empty());
        assert_eq!(plain.pattern(), None);
        assert_eq!(plain.length_bounds(), (Some(3), Some(8)));
    }

    #[test]
    fn small_allowed_sets_are_written_as_themselves() {
        let rule = TextRule::learn(|s| {
            ((3..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| s.into())
        });
        assert_eq!(rule.pattern().as_deref(), Some("^[0-9A-Z\\u005Fa-z]*$"));
    }
}
