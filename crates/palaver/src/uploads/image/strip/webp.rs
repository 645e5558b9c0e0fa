//! WebP: the RIFF container rebuilt from its chunks. Kept: VP8X, the image data (VP8, VP8L,
//! ALPH), ICCP, and animation (ANIM, and ANMF frames with only their image sub-chunks).
//! Dropped: EXIF, XMP, unknown chunks and anything after the RIFF's stated size; VP8X's
//! EXIF and XMP flags are cleared and the RIFF size rewritten to match.

use image::metadata::Orientation;

use super::{take, u32_le};
use crate::uploads::image::{Rejection, exif};

const VP8X_EXIF: u8 = 0x08;
const VP8X_XMP: u8 = 0x04;
/// An ANMF payload's frame header: position, size, duration, flags.
const ANMF_HEADER: usize = 16;

pub(super) fn strip(bytes: &[u8], orientation: Orientation) -> Result<Vec<u8>, Rejection> {
    if take(bytes, 0, 4, "the RIFF header")? != b"RIFF" || take(bytes, 8, 4, "the RIFF header")? != b"WEBP" {
        return Err(Rejection::corrupt("no WebP RIFF header"));
    }
    let size = u32_le(bytes, 4, "the RIFF header")? as usize;
    let riff = take(bytes, 8, size, "the WebP container")?;
    let chunks = chunks(riff.get(4..).unwrap_or_default())?;

    let mut out = Vec::with_capacity(bytes.len().min(riff.len() + 8) + 8 + 26);
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    let mut flags_at = None;
    let mut has_image = false;
    for (i, &(kind, data)) in chunks.iter().enumerate() {
        match kind {
            b"VP8X" if i == 0 && data.len() >= 10 => {
                flags_at = Some(out.len() + 8);
                write_chunk(&mut out, kind, data);
            }
            b"VP8X" => return Err(Rejection::corrupt("a misplaced or short VP8X chunk")),
            b"VP8 " | b"VP8L" => {
                has_image = true;
                write_chunk(&mut out, kind, data);
            }
            b"ALPH" | b"ICCP" | b"ANIM" => write_chunk(&mut out, kind, data),
            b"ANMF" => {
                has_image = true;
                write_chunk(&mut out, kind, &frame(data)?);
            }
            // EXIF, XMP and whatever else a writer put there.
            _ => {}
        }
    }
    if !has_image {
        return Err(Rejection::corrupt("a WebP without image data"));
    }
    if let Some(flags_at) = flags_at {
        out[flags_at] &= !(VP8X_EXIF | VP8X_XMP);
        // Only an extended (VP8X) file can carry EXIF, so only one can have had an orientation.
        if orientation != Orientation::NoTransforms {
            write_chunk(&mut out, b"EXIF", &exif::orientation_only(orientation));
            out[flags_at] |= VP8X_EXIF;
        }
    }
    let riff_size = u32::try_from(out.len() - 8).map_err(|_| Rejection::corrupt("a WebP over 4 GiB"))?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(out)
}

/// An animation frame with only its image sub-chunks.
fn frame(data: &[u8]) -> Result<Vec<u8>, Rejection> {
    let header = take(data, 0, ANMF_HEADER, "an ANMF frame header")?;
    let mut frame = header.to_vec();
    for (kind, sub) in chunks(&data[ANMF_HEADER..])? {
        if matches!(kind, b"ALPH" | b"VP8 " | b"VP8L") {
            write_chunk(&mut frame, kind, sub);
        }
    }
    Ok(frame)
}

/// A chunk's FourCC and payload.
type Chunk<'a> = (&'a [u8; 4], &'a [u8]);

/// The chunks in `data`: a FourCC, a little-endian size, the payload, a pad byte when the
/// size is odd (tolerated missing at the very end, as some writers omit it).
fn chunks(data: &[u8]) -> Result<Vec<Chunk<'_>>, Rejection> {
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let header = take(data, at, 8, "a WebP chunk header")?;
        let kind: &[u8; 4] = header[..4].try_into().map_err(|_| Rejection::corrupt("a WebP chunk header"))?;
        let size = u32_le(header, 4, "a WebP chunk header")? as usize;
        let payload = take(data, at + 8, size, "a WebP chunk")?;
        chunks.push((kind, payload));
        at += 8 + size + (size & 1);
    }
    Ok(chunks)
}

fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    // Every payload here is a slice of a chunk whose size fit in 32 bits, or ours.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}
