//! The pixels: dimensions and orientation from the header, then one decode (the first frame of
//! an animation), shrunk and encoded as the thumbnail.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::error::ImageError;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader};

use super::{ImageFormat, Limits, Rejection};

/// JPEG quality of thumbnails: a 320 px preview shows no artefacts at 80 and stays small.
const THUMBNAIL_QUALITY: u8 = 80;
/// The most a decoded pixel takes among the formats accepted (16-bit RGBA PNG).
const MAX_BYTES_PER_PIXEL: u64 = 8;
/// What a decoder may hold beside the output pixels: tables, a GIF frame beside its canvas.
const DECODER_SLACK: u64 = 64 << 20;

/// An image whose header has been read and whose pixel count is within the limit; nothing
/// the size of the pixels has been allocated yet.
pub(super) struct Decoder<'a> {
    inner: Box<dyn ImageDecoder + 'a>,
    orientation: Orientation,
    budget: image::Limits,
    max_pixels: u64,
}

pub(super) struct Thumbnail {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl<'a> Decoder<'a> {
    /// Reads the header only, and refuses an image with more pixels than `limits` allow.
    pub(super) fn open(bytes: &'a [u8], format: ImageFormat, limits: &Limits) -> Result<Self, Rejection> {
        let mut budget = image::Limits::default();
        budget.max_alloc = Some(limits.max_pixels.saturating_mul(MAX_BYTES_PER_PIXEL).saturating_add(DECODER_SLACK));
        let mut reader = ImageReader::with_format(Cursor::new(bytes), codec(format));
        reader.limits(budget.clone());
        let inner = guarded(|| reader.into_decoder()).map_err(rejection)?;
        let mut decoder = Decoder {
            inner: Box::new(inner),
            orientation: Orientation::NoTransforms,
            budget,
            max_pixels: limits.max_pixels,
        };
        let (width, height) = decoder.inner.dimensions();
        if u64::from(width) * u64::from(height) > limits.max_pixels {
            return Err(decoder.too_many_pixels());
        }
        decoder.orientation = guarded(|| decoder.inner.orientation()).map_err(rejection)?;
        Ok(decoder)
    }

    /// How the image is to be shown: its EXIF orientation, if any.
    pub(super) fn orientation(&self) -> Orientation {
        self.orientation
    }

    /// Width and height as displayed, after the orientation is applied.
    pub(super) fn displayed_dimensions(&self) -> (u32, u32) {
        let (width, height) = self.inner.dimensions();
        if swaps_sides(self.orientation) { (height, width) } else { (width, height) }
    }

    /// Decodes the image (the first frame of an animation) and makes a thumbnail whose longest
    /// side is at most `max_side`, upright. Never enlarges.
    pub(super) fn thumbnail(mut self, max_side: u32) -> Result<Thumbnail, Rejection> {
        let (width, height) = self.inner.dimensions();
        // The same check `ImageReader::decode` makes: the output buffer counts against the budget.
        if self.budget.clone().reserve(self.inner.total_bytes()).is_err() {
            return Err(self.too_many_pixels());
        }
        let budget = self.budget.clone();
        guarded(|| self.inner.set_limits(budget)).map_err(rejection)?;
        let inner = self.inner;
        let image = guarded(move || DynamicImage::from_decoder(inner)).map_err(rejection)?;
        // Shrunk before it is turned: rotating the thumbnail costs nothing, the original a lot.
        let (fit_width, fit_height) = fit(width, height, max_side.max(1));
        let mut small = if (fit_width, fit_height) == (width, height) {
            image
        } else {
            image.thumbnail_exact(fit_width, fit_height)
        };
        small.apply_orientation(self.orientation);
        encode(&small)
    }

    fn too_many_pixels(&self) -> Rejection {
        let (width, height) = self.inner.dimensions();
        Rejection::TooManyPixels { width, height, max: self.max_pixels }
    }
}

/// Runs a decoder step, turning a panic (a decoder bug a crafted file can reach) into an error.
fn guarded<T>(step: impl FnOnce() -> Result<T, ImageError>) -> Result<T, ImageError> {
    catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|_| {
        Err(ImageError::Decoding(image::error::DecodingError::from_format_hint(image::error::ImageFormatHint::Unknown)))
    })
}

/// What a decoder's error means for the upload. The pixel count was checked against the
/// header already, so a decoder over its allocation limit met a file that claims more inside
/// (a frame larger than its screen, say) than its header says: that is a corrupt file.
fn rejection(e: ImageError) -> Rejection {
    match e {
        ImageError::Limits(_) => Rejection::corrupt("the image holds more than its header declares"),
        e => Rejection::Corrupt(e.to_string()),
    }
}

fn codec(format: ImageFormat) -> image::ImageFormat {
    match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::Webp => image::ImageFormat::WebP,
    }
}

fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// The size within `max_side` x `max_side` with the same aspect ratio, never larger than the
/// image itself; the short side rounds to the nearest pixel and is at least one.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width, height);
    }
    let scale = |side: u32| {
        let scaled = (u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

/// PNG when some pixel is see-through (JPEG would paint it black), JPEG otherwise. The
/// encoders are given bare pixels, so nothing but the image reaches the thumbnail.
fn encode(image: &DynamicImage) -> Result<Thumbnail, Rejection> {
    let (width, height) = (image.width(), image.height());
    let grey = !image.color().has_color();
    let transparent = image.color().has_alpha() && image.to_rgba8().pixels().any(|p| p[3] < u8::MAX);
    let mut bytes = Vec::new();
    let (format, written) = if transparent {
        let encoder = PngEncoder::new(&mut bytes);
        let written = if grey {
            encoder.write_image(image.to_luma_alpha8().as_raw(), width, height, ExtendedColorType::La8)
        } else {
            encoder.write_image(image.to_rgba8().as_raw(), width, height, ExtendedColorType::Rgba8)
        };
        (ImageFormat::Png, written)
    } else {
        let encoder = JpegEncoder::new_with_quality(&mut bytes, THUMBNAIL_QUALITY);
        let written = if grey {
            encoder.write_image(image.to_luma8().as_raw(), width, height, ExtendedColorType::L8)
        } else {
            encoder.write_image(image.to_rgb8().as_raw(), width, height, ExtendedColorType::Rgb8)
        };
        (ImageFormat::Jpeg, written)
    };
    written.map_err(|e| Rejection::Corrupt(format!("encoding the thumbnail: {e}")))?;
    Ok(Thumbnail { bytes, format, width, height })
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fit(4000, 3000, 320), (320, 240));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(100, 50, 320), (100, 50));
        assert_eq!(fit(320, 320, 320), (320, 320));
        assert_eq!(fit(10000, 1, 320), (320, 1), "a sliver keeps one row");
        assert_eq!(fit(1000, 333, 320), (320, 107));
    }
}
