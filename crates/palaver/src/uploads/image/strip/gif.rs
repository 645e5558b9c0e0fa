//! GIF: a walk over the blocks. Kept: the header, colour tables, images, their graphic
//! control extensions and the looping application extensions (NETSCAPE2.0, ANIMEXTS1.0).
//! Dropped: comments, other application extensions (XMP lives in one), plain-text
//! extensions (which no browser draws) with their graphic control, and anything after the
//! trailer.

use super::take;
use crate::uploads::image::Rejection;

const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;
const GRAPHIC_CONTROL: u8 = 0xF9;
const APPLICATION: u8 = 0xFF;
const PLAIN_TEXT: u8 = 0x01;
/// The header ("GIF89a") and the logical screen descriptor.
const PREAMBLE: usize = 6 + 7;

pub(super) fn strip(bytes: &[u8]) -> Result<Vec<u8>, Rejection> {
    let preamble = take(bytes, 0, PREAMBLE, "the GIF header")?;
    if !(preamble.starts_with(b"GIF87a") || preamble.starts_with(b"GIF89a")) {
        return Err(Rejection::corrupt("no GIF header"));
    }
    let mut at = PREAMBLE + colour_table(preamble[10]);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(take(bytes, 0, at, "the global colour table")?);
    // A graphic control extension belongs to the next image or plain text: held until that
    // is known, so dropping a plain text never hands its timing to the image after it.
    let mut control: Option<&[u8]> = None;
    loop {
        let start = at;
        match take(bytes, at, 1, "the GIF blocks")?[0] {
            TRAILER => {
                out.push(TRAILER);
                return Ok(out);
            }
            IMAGE => {
                let descriptor = take(bytes, at, 10, "an image descriptor")?;
                at += 10 + colour_table(descriptor[9]);
                // The LZW minimum code size, then the data sub-blocks.
                at = sub_blocks_end(bytes, at + 1)?;
                out.extend_from_slice(control.take().unwrap_or_default());
                out.extend_from_slice(&bytes[start..at]);
            }
            EXTENSION => {
                let label = take(bytes, at + 1, 1, "an extension")?[0];
                at = sub_blocks_end(bytes, at + 2)?;
                let block = &bytes[start..at];
                match label {
                    GRAPHIC_CONTROL => control = Some(block),
                    PLAIN_TEXT => control = None,
                    APPLICATION if loops(block) => out.extend_from_slice(block),
                    _ => {}
                }
            }
            other => return Err(Rejection::corrupt(format!("an unknown GIF block {other:02X}"))),
        }
    }
}

/// The size of the colour table a descriptor's packed byte announces.
fn colour_table(packed: u8) -> usize {
    if packed & 0x80 == 0 { 0 } else { 3 << ((packed & 0x07) + 1) }
}

/// Where the sub-blocks starting at `at` end, after their zero-length terminator.
fn sub_blocks_end(bytes: &[u8], mut at: usize) -> Result<usize, Rejection> {
    loop {
        let len = usize::from(take(bytes, at, 1, "a GIF sub-block")?[0]);
        at += 1;
        if len == 0 {
            return Ok(at);
        }
        take(bytes, at, len, "a GIF sub-block")?;
        at += len;
    }
}

/// An application extension that only says how often to loop: 0x21 0xFF, then an 11-byte
/// first sub-block naming the application.
fn loops(block: &[u8]) -> bool {
    block.get(2) == Some(&11) && matches!(block.get(3..14), Some(b"NETSCAPE2.0" | b"ANIMEXTS1.0"))
}
