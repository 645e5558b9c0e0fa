//! Server-sent events from raw bytes: lines, then the `data` of each event. Only `data`
//! matters to a chat-completions stream; `event:`, `id:`, `retry:` and `:` comments
//! (keep-alives) are read and dropped.
//!
//! Lines end with LF or CRLF (a lone CR, allowed by the spec, is sent by no LLM server and
//! is taken as part of the line). A line, and an event's data, is at most [`MAX_LINE`]
//! bytes: a server that never sends a newline cannot make the buffer grow without end.

use super::LlmError;

/// The longest line, and the longest data of one event, that is accepted.
pub(super) const MAX_LINE: usize = 1 << 20;

#[derive(Default)]
pub(super) struct SseDecoder {
    /// The line read so far, without its end.
    line: Vec<u8>,
    /// The data lines of the event read so far, joined by `\n`.
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// Reads `bytes`; the data of each event they complete is pushed to `events`.
    pub(super) fn feed(&mut self, mut bytes: &[u8], events: &mut Vec<String>) -> Result<(), LlmError> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.extend_line(&bytes[..end])?;
            self.end_line(events)?;
            bytes = &bytes[end + 1..];
        }
        self.extend_line(bytes)
    }

    /// At the end of the body: a last line without its newline and a last event without its
    /// blank line still count (a few servers close right after `data: [DONE]`).
    pub(super) fn finish(&mut self, events: &mut Vec<String>) -> Result<(), LlmError> {
        if !self.line.is_empty() {
            self.end_line(events)?;
        }
        self.dispatch(events);
        Ok(())
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), LlmError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(LlmError::Protocol(format!("a line of the stream is over {MAX_LINE} bytes")));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, events: &mut Vec<String>) -> Result<(), LlmError> {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|_| LlmError::Protocol("the stream is not UTF-8".into()))?;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        if field == "data" {
            if self.data.len() + value.len() + 1 > MAX_LINE {
                return Err(LlmError::Protocol(format!("an event of the stream is over {MAX_LINE} bytes")));
            }
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        // Empty field name (a `:` comment), event, id, retry, anything else: nothing to do.
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<String>) {
        if std::mem::take(&mut self.has_data) {
            events.push(std::mem::take(&mut self.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Result<Vec<String>, LlmError> {
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        for piece in pieces {
            decoder.feed(piece, &mut events)?;
        }
        decoder.finish(&mut events)?;
        Ok(events)
    }

    const STREAM: &[u8] = b": keep-alive\n\nevent: message\nid: 7\ndata: {\"a\":1}\r\n\r\ndata:x\ndata: y\n\n: ping\nretry: 10\n\ndata: [DONE]";

    #[test]
    fn comments_and_other_fields_are_dropped_and_data_lines_join() {
        assert_eq!(decode(&[STREAM]).unwrap(), ["{\"a\":1}", "x\ny", "[DONE]"]);
    }

    #[test]
    fn any_split_of_the_bytes_reads_the_same() {
        let whole = decode(&[STREAM]).unwrap();
        for at in 0..STREAM.len() {
            assert_eq!(decode(&[&STREAM[..at], &STREAM[at..]]).unwrap(), whole, "split at {at}");
        }
        let bytewise: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode(&bytewise).unwrap(), whole);
    }

    #[test]
    fn a_character_split_across_reads_survives() {
        let text = "data: h\u{e9}llo \u{1f600}\n\n".as_bytes();
        assert_eq!(decode(&[&text[..9], &text[9..15], &text[15..]]).unwrap(), ["h\u{e9}llo \u{1f600}"]);
        assert!(matches!(decode(&[b"data: \xff\n\n"]), Err(LlmError::Protocol(_))));
    }

    #[test]
    fn a_line_without_end_is_cut_off_at_the_limit() {
        let piece = vec![b'x'; 64 * 1024];
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        let mut fed = 0;
        let error = loop {
            match decoder.feed(&piece, &mut events) {
                Ok(()) => fed += piece.len(),
                Err(error) => break error,
            }
            assert!(fed <= MAX_LINE, "still buffering after {fed} bytes");
        };
        assert!(matches!(error, LlmError::Protocol(_)), "{error:?}");
        assert_eq!(fed, MAX_LINE);
    }

    #[test]
    fn many_short_data_lines_cannot_grow_an_event_without_end() {
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        let line = format!("data: {}\n", "y".repeat(1000));
        let result = (0..2 * MAX_LINE / 1000).try_for_each(|_| decoder.feed(line.as_bytes(), &mut events));
        assert!(matches!(result, Err(LlmError::Protocol(_))), "{result:?}");
        assert!(events.is_empty());
    }
}
