//! PNG: a walk over the chunks. Kept: the critical chunks, colour (tRNS gAMA cHRM sRGB iCCP
//! sBIT cICP), pixel size (pHYs) and animation (acTL fcTL fdAT). Dropped: text (tEXt zTXt
//! iTXt), EXIF (eXIf), tIME, every other ancillary chunk, and anything after IEND. A kept
//! chunk's CRC is checked, since it is served as it came.

use image::metadata::Orientation;

use super::{take, u32_be};
use crate::uploads::image::{Rejection, exif};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

const KEPT: [&[u8; 4]; 15] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"pHYs",
    b"acTL", b"fcTL", b"fdAT",
];

pub(super) fn strip(bytes: &[u8], orientation: Orientation) -> Result<Vec<u8>, Rejection> {
    if !bytes.starts_with(SIGNATURE) {
        return Err(Rejection::corrupt("no PNG signature"));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(SIGNATURE);
    // The decoder reads orientation from an eXIf before the image data; it goes back there.
    let mut orientation_due = orientation != Orientation::NoTransforms;
    let mut at = SIGNATURE.len();
    loop {
        let length = u32_be(bytes, at, "a PNG chunk header")?;
        if length > i32::MAX as u32 {
            return Err(Rejection::corrupt("a PNG chunk length over 2^31 - 1"));
        }
        let chunk = take(bytes, at, 12 + length as usize, "a PNG chunk")?;
        at += chunk.len();
        let kind: &[u8; 4] = chunk[4..8].try_into().map_err(|_| Rejection::corrupt("a PNG chunk type"))?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(Rejection::corrupt("a PNG chunk type that is not four letters"));
        }
        if out.len() == SIGNATURE.len() && kind != b"IHDR" {
            return Err(Rejection::corrupt("a PNG that does not start with IHDR"));
        }
        if !KEPT.contains(&kind) {
            // Lower case first letter: ancillary, safe to drop. Upper case: needed to show the
            // image and unknown to us, so nothing could show it.
            if kind[0].is_ascii_uppercase() {
                return Err(Rejection::corrupt(format!(
                    "an unknown critical PNG chunk {}",
                    String::from_utf8_lossy(kind)
                )));
            }
            continue;
        }
        let (body, crc) = chunk[4..].split_at(chunk.len() - 8);
        if crc32fast::hash(body).to_be_bytes() != crc {
            return Err(Rejection::corrupt(format!("a bad CRC in the PNG chunk {}", String::from_utf8_lossy(kind))));
        }
        if orientation_due && kind == b"IDAT" {
            write_chunk(&mut out, b"eXIf", &exif::orientation_only(orientation));
            orientation_due = false;
        }
        out.extend_from_slice(chunk);
        if kind == b"IEND" {
            return Ok(out);
        }
    }
}

fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    // `data` is one of ours, a few bytes long.
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}
