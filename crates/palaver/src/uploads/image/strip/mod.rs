//! The original as served: the uploaded bytes, not re-encoded (so quality, animation and
//! speed are kept), with the metadata a photo leaks (location, camera, names, comments)
//! removed at the container level, and anything after the container's end dropped (where a
//! second file can hide and make a polyglot). Each format keeps only what it needs to show
//! the same pixels in the same colours; a malformed container is `Corrupt`.

mod gif;
mod jpeg;
mod png;
mod webp;

use image::metadata::Orientation;

use super::{ImageFormat, Rejection};

/// `bytes` in `format` without their metadata. An `orientation` other than none is written
/// back as an orientation-only EXIF block (GIF has none).
pub(super) fn strip(format: ImageFormat, bytes: &[u8], orientation: Orientation) -> Result<Vec<u8>, Rejection> {
    match format {
        ImageFormat::Jpeg => jpeg::strip(bytes, orientation),
        ImageFormat::Png => png::strip(bytes, orientation),
        ImageFormat::Webp => webp::strip(bytes, orientation),
        ImageFormat::Gif => gif::strip(bytes),
    }
}

/// `len` bytes of `bytes` from `at`, or `Corrupt` naming what was cut short.
fn take<'a>(bytes: &'a [u8], at: usize, len: usize, what: &str) -> Result<&'a [u8], Rejection> {
    at.checked_add(len)
        .and_then(|end| bytes.get(at..end))
        .ok_or_else(|| Rejection::corrupt(format!("the file ends inside {what}")))
}

fn u16_be(bytes: &[u8], at: usize, what: &str) -> Result<u16, Rejection> {
    let b = take(bytes, at, 2, what)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_be(bytes: &[u8], at: usize, what: &str) -> Result<u32, Rejection> {
    let b = take(bytes, at, 4, what)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn u32_le(bytes: &[u8], at: usize, what: &str) -> Result<u32, Rejection> {
    let b = take(bytes, at, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
