//! Deciding what an uploaded file is and making what is served from it: the format from
//! its first bytes, the dimensions from its header (before any decode), a thumbnail, and
//! the original with its metadata removed. Everything here is CPU-bound and synchronous:
//! callers run it on the decoder threads, never on the async runtime.
//!
//! The order of `process` is the defence: the format is decided by magic bytes, the pixel
//! count from the header is checked before a pixel buffer exists, the container is rebuilt
//! (which also finds truncation) before anything is decoded, and only then is a decoder
//! given the bytes, with an allocation limit of its own as a second guard.

mod decode;
mod exif;
mod strip;
#[cfg(test)]
mod tests;

/// The image formats Palaver accepts, decided from the bytes. Stored as the MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text")]
pub enum ImageFormat {
    #[sqlx(rename = "image/png")]
    Png,
    #[sqlx(rename = "image/jpeg")]
    Jpeg,
    #[sqlx(rename = "image/gif")]
    Gif,
    #[sqlx(rename = "image/webp")]
    Webp,
}

impl ImageFormat {
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::Webp]
            .into_iter()
            .find(|f| f.mime() == mime)
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
        }
    }
}

/// How many leading bytes `sniff` needs at most to decide.
pub const SNIFF_LEN: usize = 16;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    Image(ImageFormat),
    /// Fewer than `SNIFF_LEN` bytes so far and they could still start an image.
    NeedMore,
    /// Not one of the accepted formats.
    Unsupported,
}

/// A format's leading bytes; `any` is a range of positions that may hold anything (the RIFF
/// size in a WebP header).
struct Magic {
    format: ImageFormat,
    bytes: &'static [u8],
    any: std::ops::Range<usize>,
}

const MAGICS: [Magic; 5] = [
    Magic { format: ImageFormat::Png, bytes: b"\x89PNG\r\n\x1a\n", any: 0..0 },
    Magic { format: ImageFormat::Jpeg, bytes: b"\xff\xd8\xff", any: 0..0 },
    Magic { format: ImageFormat::Gif, bytes: b"GIF87a", any: 0..0 },
    Magic { format: ImageFormat::Gif, bytes: b"GIF89a", any: 0..0 },
    Magic { format: ImageFormat::Webp, bytes: b"RIFF\0\0\0\0WEBP", any: 4..8 },
];

/// The format from the magic bytes alone; the file name and declared type are never asked.
pub fn sniff(prefix: &[u8]) -> Sniff {
    let mut could_be = false;
    for magic in &MAGICS {
        let agrees =
            magic.bytes.iter().zip(prefix).enumerate().all(|(i, (want, got))| magic.any.contains(&i) || want == got);
        if !agrees {
            continue;
        }
        if prefix.len() >= magic.bytes.len() {
            return Sniff::Image(magic.format);
        }
        could_be = true;
    }
    if could_be && prefix.len() < SNIFF_LEN { Sniff::NeedMore } else { Sniff::Unsupported }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Width times height, as the header states it, checked before decoding.
    pub max_pixels: u64,
    /// The longest side of a thumbnail.
    pub thumbnail_max_side: u32,
}

/// What is stored for an accepted upload.
#[derive(Debug)]
pub struct Processed {
    pub format: ImageFormat,
    /// As displayed: EXIF orientation applied.
    pub width: u32,
    pub height: u32,
    /// The bytes served as the original.
    pub original: Vec<u8>,
    pub thumbnail: Vec<u8>,
    pub thumbnail_format: ImageFormat,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("not a PNG, JPEG, GIF or WebP image")]
    Unsupported,
    #[error("{width} x {height} pixels is more than the limit of {max}")]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error("the image data is corrupt: {0}")]
    Corrupt(String),
}

impl Rejection {
    fn corrupt(reason: impl Into<String>) -> Self {
        Rejection::Corrupt(reason.into())
    }
}

/// Decides whether `bytes` are an image Palaver accepts and makes what is stored for it:
/// the original without its metadata, and a thumbnail.
pub fn process(bytes: &[u8], limits: &Limits) -> Result<Processed, Rejection> {
    let format = match sniff(bytes) {
        Sniff::Image(format) => format,
        Sniff::NeedMore if !bytes.is_empty() => return Err(Rejection::corrupt("the file ends inside its header")),
        Sniff::NeedMore | Sniff::Unsupported => return Err(Rejection::Unsupported),
    };
    let decoder = decode::Decoder::open(bytes, format, limits)?;
    let original = strip::strip(format, bytes, decoder.orientation())?;
    let (width, height) = decoder.displayed_dimensions();
    let thumbnail = decoder.thumbnail(limits.thumbnail_max_side)?;
    Ok(Processed {
        format,
        width,
        height,
        original,
        thumbnail: thumbnail.bytes,
        thumbnail_format: thumbnail.format,
        thumbnail_width: thumbnail.width,
        thumbnail_height: thumbnail.height,
    })
}
