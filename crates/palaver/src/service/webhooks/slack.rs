//! Slack's incoming-webhook payload as Palaver text: `<url|label>` links, `*bold*`,
//! `_italic_`, `~strike~`, the three entities, `<!here>`-style mentions, and attachments
//! and blocks kept readable as lines of text (never dropped). The output is Markdown of
//! the kind the web client renders (`[label](url)`, `**bold**`, `*italic*`, `~~strike~~`).

use serde::Deserialize;
use serde_json::Value;

/// The longest message content; longer text is cut and ends with [`TRUNCATED`].
pub const MAX_CHARS: usize = 4000;
pub const TRUNCATED: &str = "… (truncated)";
/// Attachments, blocks and fields read at most: a payload with more is cut, not refused
/// (the body's byte limit bounds the work anyway).
const MAX_ITEMS: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub text: Option<String>,
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
    pub channel: Option<String>,
    pub attachments: Option<Vec<Attachment>>,
    pub blocks: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub fallback: Option<String>,
    pub color: Option<String>,
    pub pretext: Option<String>,
    pub author_name: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub text: Option<String>,
    pub fields: Option<Vec<Field>>,
    pub image_url: Option<String>,
    pub footer: Option<String>,
    pub ts: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Field {
    pub title: Option<String>,
    pub value: Option<String>,
    pub short: Option<bool>,
}

/// The message text of a payload; empty if it has nothing to post.
pub fn render(payload: &Payload) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(text) = payload.text.as_deref() {
        push(&mut parts, markup(text));
    }
    for block in payload.blocks.iter().flatten().take(MAX_ITEMS) {
        push(&mut parts, render_block(block));
    }
    for attachment in payload.attachments.iter().flatten().take(MAX_ITEMS) {
        push(&mut parts, render_attachment(attachment));
    }
    truncate(parts.join("\n\n"))
}

fn push(parts: &mut Vec<String>, part: String) {
    if !part.trim().is_empty() {
        parts.push(part.trim().to_owned());
    }
}

fn render_attachment(a: &Attachment) -> String {
    let mut lines = Vec::new();
    let mut add = |line: String| {
        if !line.trim().is_empty() {
            lines.push(line);
        }
    };
    if let Some(pretext) = &a.pretext {
        add(markup(pretext));
    }
    if let Some(author) = &a.author_name {
        add(plain(author));
    }
    match (&a.title, &a.title_link) {
        (Some(title), Some(link)) if is_url(link) => add(format!("**[{}]({})**", plain(title), link.trim())),
        (Some(title), _) => add(format!("**{}**", plain(title))),
        (None, _) => {}
    }
    if let Some(text) = &a.text {
        add(markup(text));
    }
    for field in a.fields.iter().flatten().take(MAX_ITEMS) {
        let title = field.title.as_deref().map(plain).unwrap_or_default();
        let value = field.value.as_deref().map(markup).unwrap_or_default();
        match (title.is_empty(), value.is_empty()) {
            (false, false) => add(format!("**{title}:** {value}")),
            (false, true) => add(format!("**{title}**")),
            (true, false) => add(value),
            (true, true) => {}
        }
    }
    if let Some(image) = a.image_url.as_deref().filter(|u| is_url(u)) {
        add(image.trim().to_owned());
    }
    let ts = a.ts.as_ref().and_then(timestamp);
    match (a.footer.as_deref().map(plain), ts) {
        (Some(footer), Some(ts)) => add(format!("_{footer} · {ts}_")),
        (Some(footer), None) => add(format!("_{footer}_")),
        (None, Some(ts)) => add(format!("_{ts}_")),
        (None, None) => {}
    }
    // Nothing else readable: the fallback says what the attachment was.
    if let Some(fallback) = &a.fallback {
        add(markup(fallback));
    }
    let fallback = usize::from(a.fallback.as_deref().is_some_and(|f| !markup(f).trim().is_empty()));
    // The fallback repeats what the other lines say when there are any.
    if lines.len() > fallback {
        lines.truncate(lines.len() - fallback);
    }
    lines.join("\n")
}

/// Slack's `ts`: seconds since the epoch, as a number or a string.
fn timestamp(ts: &Value) -> Option<String> {
    let secs = match ts {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let at = time::OffsetDateTime::from_unix_timestamp(secs as i64).ok()?;
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

/// One Block Kit block. Unknown types keep whatever text they hold.
fn render_block(block: &Value) -> String {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "divider" => "---".to_owned(),
        "header" => text_object(block.get("text")).map(|t| format!("**{t}**")).unwrap_or_default(),
        "section" => {
            let mut lines: Vec<String> = text_object(block.get("text")).into_iter().collect();
            for field in block.get("fields").and_then(Value::as_array).into_iter().flatten().take(MAX_ITEMS) {
                lines.extend(text_object(Some(field)));
            }
            if let Some(url) = block.pointer("/accessory/image_url").and_then(Value::as_str).filter(|u| is_url(u)) {
                lines.push(url.trim().to_owned());
            }
            lines.join("\n")
        }
        "context" => {
            let elements = block.get("elements").and_then(Value::as_array).into_iter().flatten().take(MAX_ITEMS);
            let texts: Vec<String> = elements
                .filter_map(|e| text_object(Some(e)).or_else(|| e.get("alt_text").and_then(Value::as_str).map(plain)))
                .collect();
            if texts.is_empty() { String::new() } else { format!("_{}_", texts.join(" · ")) }
        }
        "image" => {
            let title =
                text_object(block.get("title")).or_else(|| block.get("alt_text").and_then(Value::as_str).map(plain));
            let url = block.get("image_url").and_then(Value::as_str).filter(|u| is_url(u)).map(str::trim);
            match (title, url) {
                (Some(title), Some(url)) => format!("{title}\n{url}"),
                (None, Some(url)) => url.to_owned(),
                (Some(title), None) => title,
                (None, None) => String::new(),
            }
        }
        // Anything else: its text, if it has some, so nothing is dropped silently.
        _ => {
            let mut texts = Vec::new();
            collect_text(block, &mut texts, 0);
            texts.join("\n")
        }
    }
}

/// A Block Kit text object (`{"type": "mrkdwn"|"plain_text", "text": ...}`) or a bare string.
fn text_object(value: Option<&Value>) -> Option<String> {
    let value = value?;
    let text = match value {
        Value::String(s) => markup(s),
        Value::Object(o) => {
            let text = o.get("text")?.as_str()?;
            if o.get("type").and_then(Value::as_str) == Some("plain_text") { plain(text) } else { markup(text) }
        }
        _ => return None,
    };
    (!text.trim().is_empty()).then_some(text)
}

/// Every `text` string in an unknown block, depth-first, bounded in depth and count.
fn collect_text(value: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 8 || out.len() >= MAX_ITEMS {
        return;
    }
    match value {
        Value::Object(o) => {
            if let Some(text) = o.get("text").and_then(Value::as_str) {
                out.push(markup(text));
            }
            for (key, child) in o {
                if key != "text" {
                    collect_text(child, out, depth + 1);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|child| collect_text(child, out, depth + 1)),
        _ => {}
    }
}

fn is_url(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("https://") || text.starts_with("http://")
}

/// Plain text: only the entities decoded.
fn plain(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Slack mrkdwn to the client's Markdown. One pass, linear in the input: a `<` without its
/// `>` is kept as it is, so 100k `<` cost 100k steps.
pub fn markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&emphasis(&rest[..open]));
        let after = &rest[open + 1..];
        // The tag ends at the next `>`, and may not hold another `<` or a line break.
        match after.find(['>', '<', '\n']) {
            Some(close) if after.as_bytes()[close] == b'>' => {
                out.push_str(&tag(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(&emphasis(rest));
    out
}

/// `<...>`'s inside: a link, a user or channel reference, or a special mention.
fn tag(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(plain(label))),
        None => (inner, None),
    };
    let target = plain(target);
    if let Some(special) = target.strip_prefix('!') {
        // `<!here>`, `<!channel>`, `<!everyone>`, `<!subteam^ID|@team>`, `<!date^...|fallback>`.
        return match label {
            Some(label) => label,
            None => format!("@{}", special.split('^').next().unwrap_or(special)),
        };
    }
    if let Some(user) = target.strip_prefix('@') {
        return label.map_or_else(|| format!("@{user}"), |l| format!("@{}", l.trim_start_matches('@')));
    }
    if let Some(channel) = target.strip_prefix('#') {
        return label.map_or_else(|| format!("#{channel}"), |l| format!("#{}", l.trim_start_matches('#')));
    }
    match label {
        Some(label) if !label.trim().is_empty() => format!("[{}]({})", label.replace(['[', ']'], ""), target),
        _ => target,
    }
}

/// `*bold*`, `_italic_`, `~strike~` (each opening after a non-word character and closing
/// before one, on one line) and the entities.
fn emphasis(text: &str) -> String {
    let text = plain(text);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    // Per marker, the index before which a search for its closer already failed: a later
    // opener searches a part of the same range, so it would fail too. Without this, a line
    // of 30k `*a ` is quadratic.
    let mut no_closer_before = [0usize; 3];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let (marker, slot) = match c {
            '*' => (Some("**"), 0),
            '_' => (Some("*"), 1),
            '~' => (Some("~~"), 2),
            _ => (None, 0),
        };
        let opens = marker.is_some()
            && i >= no_closer_before[slot]
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace() && *n != c);
        if let (Some(marker), true) = (marker, opens) {
            // The closing marker on the same line, followed by a non-word character.
            // One scan to the closer or the line's end, whichever comes first.
            let stop = (i + 2..chars.len()).find(|&j| {
                chars[j] == '\n'
                    || (chars[j] == c
                        && !chars[j - 1].is_whitespace()
                        && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric()))
            });
            let close = stop.filter(|&j| chars[j] == c);
            if close.is_none() {
                no_closer_before[slot] = stop.unwrap_or(chars.len());
            }
            if let Some(close) = close {
                out.push_str(marker);
                out.extend(&chars[i + 1..close]);
                out.push_str(marker);
                i = close + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// At most [`MAX_CHARS`] characters, the cut marked.
pub fn truncate(text: String) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let keep = MAX_CHARS - TRUNCATED.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(TRUNCATED);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_emphasis_and_entities_become_markdown() {
        assert_eq!(markup("see <https://x.io/a?b=1&amp;c=2|the *log*>"), "see [the *log*](https://x.io/a?b=1&c=2)");
        assert_eq!(markup("<https://x.io>"), "https://x.io");
        assert_eq!(markup("*bold* _it_ ~gone~ a_b_c 2*3*4"), "**bold** *it* ~~gone~~ a_b_c 2*3*4");
        assert_eq!(markup("a &lt;tag&gt; &amp; more"), "a <tag> & more");
        assert_eq!(markup("<!here> <!channel> <@U123> <#C1|ops>"), "@here @channel @U123 #ops");
    }

    #[test]
    fn a_markup_bomb_is_kept_as_text() {
        // Each scan stops at its own closer, so these are linear (a quadratic version took
        // 96 s here); speed is measured by benchmarks, not asserted in tests.
        let bomb = "<".repeat(100_000);
        assert_eq!(markup(&bomb), bomb);
        let stars = "*a ".repeat(30_000);
        assert_eq!(markup(&stars).len(), stars.len());
        // Many closed pairs on one long line: each scan stops at its own closer.
        let pairs = "*a* ".repeat(30_000);
        assert_eq!(markup(&pairs), "**a** ".repeat(30_000));
    }

    #[test]
    fn attachments_and_blocks_stay_readable() {
        let payload: Payload = serde_json::from_value(serde_json::json!({
            "attachments": [{"pretext": "pre", "author_name": "ci", "title": "Build 7", "title_link": "https://ci/7",
                "text": "failed", "fields": [{"title": "Branch", "value": "main", "short": true}],
                "image_url": "https://ci/7.png", "footer": "CI", "ts": 0}],
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Head"}}, {"type": "divider"},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*sec*"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
                {"type": "image", "image_url": "https://i/x.png", "alt_text": "pic"},
                {"type": "rich_text", "elements": [{"type": "x", "text": "kept"}]}]
        }))
        .unwrap();
        let text = render(&payload);
        for part in [
            "pre",
            "ci",
            "**[Build 7](https://ci/7)**",
            "failed",
            "**Branch:** main",
            "https://ci/7.png",
            "_CI · 1970-01-01T00:00:00Z_",
            "**Head**",
            "---",
            "**sec**",
            "_ctx_",
            "pic\nhttps://i/x.png",
            "kept",
        ] {
            assert!(text.contains(part), "{part:?} in {text:?}");
        }
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        let text = truncate("x".repeat(5000));
        assert_eq!(text.chars().count(), MAX_CHARS);
        assert!(text.ends_with(TRUNCATED));
    }
}
