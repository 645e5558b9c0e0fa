//! Real image files made in the tests: each format from the image crate's encoders, and
//! hand-built bytes for what no encoder writes (an EXIF block with a GPS position, a PNG
//! header claiming more pixels than exist).

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A gradient, so encoders have something to encode and dimensions are easy to tell.
pub fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| Rgb([(x * 255 / width.max(1)) as u8, (y * 255 / height.max(1)) as u8, 128]))
}

pub fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).expect("the test image encodes");
    bytes.into_inner()
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(DynamicImage::ImageRgb8(picture(width, height)), ImageFormat::Png)
}

/// Pixels from a fixed pseudo-random sequence: barely compressible, so the file is about
/// `3 * width * height` bytes.
pub fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_F491_u32;
    let image = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        Rgb([a, b, c])
    });
    encode(DynamicImage::ImageRgb8(image), ImageFormat::Png)
}

pub fn png_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, _| Rgba([200, 10, 10, (x * 255 / width) as u8]));
    encode(DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(DynamicImage::ImageRgb8(picture(width, height)), ImageFormat::Jpeg)
}

pub fn webp(width: u32, height: u32) -> Vec<u8> {
    encode(DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(picture(width, height)).to_rgba8()), ImageFormat::WebP)
}

/// An animated GIF of two frames: the first red, the second blue.
pub fn animated_gif(width: u16, height: u16) -> Vec<u8> {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame};
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        for colour in [[255, 0, 0, 255], [0, 0, 255, 255]] {
            let frame = RgbaImage::from_pixel(u32::from(width), u32::from(height), Rgba(colour));
            encoder.encode_frame(Frame::from_parts(frame, 0, 0, Delay::from_numer_denom_ms(100, 1))).unwrap();
        }
    }
    bytes
}

/// Marks the GPS block of [`jpeg_with_gps`], to look for in what the server serves.
pub const GPS_MARKER: &[u8] = b"PALAVER-GPS-MARKER";

/// A JPEG whose EXIF says: rotate 90 degrees clockwise to display (orientation 6), and
/// here is where the photo was taken.
pub fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let plain = jpeg(width, height);
    let exif = exif_with_gps();
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&exif);
    // Right after SOI, where cameras put it.
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&segment);
    out.extend_from_slice(&plain[2..]);
    out
}

/// `Exif\0\0` then a little-endian TIFF: IFD0 with Orientation = 6 and a pointer to a GPS
/// IFD holding a latitude and the marker (as GPSMapDatum).
fn exif_with_gps() -> Vec<u8> {
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value.to_le_bytes());
    };
    // IFD0 at 8: two entries (2 + 2 * 12 + 4 bytes), the GPS IFD right after, at 38.
    let gps_at = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0112, 3, 1, 6);
    entry(&mut tiff, 0x8825, 4, 1, gps_at);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD: three entries, then the latitude's rationals and the marker.
    let data_at = gps_at + 2 + 3 * 12 + 4;
    let marker_at = data_at + 24;
    tiff.extend_from_slice(&3u16.to_le_bytes());
    entry(&mut tiff, 0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0"));
    entry(&mut tiff, 0x0002, 5, 3, data_at);
    entry(&mut tiff, 0x0012, 2, GPS_MARKER.len() as u32 + 1, marker_at);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (numerator, denominator) in [(52u32, 1u32), (31, 1), (1234, 100)] {
        tiff.extend_from_slice(&numerator.to_le_bytes());
        tiff.extend_from_slice(&denominator.to_le_bytes());
    }
    tiff.extend_from_slice(GPS_MARKER);
    tiff.push(0);
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&tiff);
    exif
}

/// A valid PNG signature and IHDR claiming `width` x `height`, then a tiny IDAT and IEND:
/// the header is all a server may read before refusing it.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Files that are not images, each with what a client might claim they are.
pub fn not_images() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    elf.resize(512, 0);
    let mut pe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
    pe.resize(512, 0);
    vec![
        ("text named like a PNG", "photo.png", b"just some text, honestly an image\n".repeat(4)),
        ("an SVG with a script", "cat.svg", svg.to_vec()),
        ("a PDF", "scan.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec()),
        ("an ELF executable", "photo.jpg", elf),
        ("a PE executable", "photo.gif", pe),
    ]
}

/// Width and height of an image's bytes, as a decoder sees them.
pub fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(bytes).expect("the served bytes decode");
    (image.width(), image.height())
}
