//! A tool's result as text for the model: text kept, everything else named, size bounded.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

use crate::assistant::tools::ToolOutcome;

/// What the model is given of one result at most; the rest would only crowd its context.
pub(super) const MAX_OUTPUT_BYTES: usize = 64 * 1024;

pub(super) fn outcome(result: &CallToolResult) -> ToolOutcome {
    let mut text = BoundedText::new(MAX_OUTPUT_BYTES);
    for block in &result.content {
        render_block(block, &mut text);
    }
    // Structured content is the JSON twin of the text blocks; it stands in only for them.
    if result.content.is_empty() {
        match &result.structured_content {
            Some(value) => text.push(&value.to_string()),
            None => text.push("[no content]"),
        }
    }
    ToolOutcome { content: text.finish(), is_error: result.is_error.unwrap_or(false) }
}

/// An error of ours, bounded too: it may quote what the model or the server sent.
pub(super) fn error(message: impl AsRef<str>) -> ToolOutcome {
    let mut text = BoundedText::new(MAX_OUTPUT_BYTES);
    text.push(message.as_ref());
    ToolOutcome { content: text.finish(), is_error: true }
}

fn render_block(block: &ContentBlock, out: &mut BoundedText) {
    match block {
        ContentBlock::Text(text) => out.push_block(&text.text),
        ContentBlock::Image(image) => out.push_block(&format!("[image: {}]", image.mime_type)),
        ContentBlock::Audio(audio) => out.push_block(&format!("[audio: {}]", audio.mime_type)),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                out.push_block(&format!("[resource: {uri}]\n"));
                out.push(text);
            }
            ResourceContents::BlobResourceContents { uri, mime_type, .. } => {
                let mime = mime_type.as_deref().unwrap_or("application/octet-stream");
                out.push_block(&format!("[resource: {uri} ({mime})]"));
            }
            _ => out.push_block("[resource]"),
        },
        ContentBlock::ResourceLink(link) => {
            out.push_block(&format!("[resource link: {} ({})]", link.uri, link.name));
        }
        _ => out.push_block("[unsupported content]"),
    }
}

/// Text that stops growing at `limit` bytes and says how much it left out.
struct BoundedText {
    text: String,
    limit: usize,
    total: usize,
}

impl BoundedText {
    fn new(limit: usize) -> Self {
        Self { text: String::new(), limit, total: 0 }
    }

    /// Blocks are separated by a newline.
    fn push_block(&mut self, s: &str) {
        if self.total > 0 {
            self.push("\n");
        }
        self.push(s);
    }

    fn push(&mut self, s: &str) {
        self.total = self.total.saturating_add(s.len());
        let room = self.limit.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&s[..end]);
        }
    }

    fn finish(mut self) -> String {
        if self.total > self.text.len() {
            let note = format!("\n[output truncated: {} of {} bytes shown]", self.text.len(), self.total);
            self.text.push_str(&note);
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ContentBlock, Resource};

    use super::*;

    fn result(content: Vec<ContentBlock>) -> CallToolResult {
        CallToolResult::success(content)
    }

    #[test]
    fn text_blocks_are_joined_and_others_named() {
        let outcome = outcome(&result(vec![
            ContentBlock::text("one"),
            ContentBlock::image("aGk=", "image/png"),
            ContentBlock::text("two"),
            ContentBlock::resource_link(Resource::new("file:///a.txt", "a")),
        ]));
        assert_eq!(outcome.content, "one\n[image: image/png]\ntwo\n[resource link: file:///a.txt (a)]");
        assert!(!outcome.is_error);
    }

    #[test]
    fn the_tools_own_error_flag_is_kept() {
        let outcome = outcome(&CallToolResult::error(vec![ContentBlock::text("no such file")]));
        assert_eq!(outcome, ToolOutcome { content: "no such file".into(), is_error: true });
    }

    #[test]
    fn structured_content_stands_in_for_missing_text() {
        let mut only_structured = result(vec![]);
        only_structured.structured_content = Some(serde_json::json!({"sum": 5}));
        assert_eq!(outcome(&only_structured).content, r#"{"sum":5}"#);
        assert_eq!(outcome(&result(vec![])).content, "[no content]");
    }

    #[test]
    fn large_output_is_cut_on_a_char_boundary_and_says_so() {
        let big = "é".repeat(MAX_OUTPUT_BYTES); // two bytes each
        let text = outcome(&result(vec![ContentBlock::text(big)])).content;
        let (kept, note) = text.split_once("\n[output truncated: ").unwrap();
        assert_eq!(kept.len(), MAX_OUTPUT_BYTES);
        assert_eq!(note, format!("{MAX_OUTPUT_BYTES} of {} bytes shown]", 2 * MAX_OUTPUT_BYTES));
    }
}
