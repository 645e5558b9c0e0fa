//! Test images: made by the image crate's encoders, then given metadata by hand. Plain
//! functions over byte vectors, so other tests can copy them.

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{Delay, ExtendedColorType, Frame, ImageEncoder, Rgba, RgbaImage};

pub const RED: [u8; 4] = [255, 0, 0, 255];
pub const BLUE: [u8; 4] = [0, 0, 255, 255];

/// Left half red, right half blue: shows which way an image was turned.
pub fn halves(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, _| Rgba(if x < width / 2 { RED } else { BLUE }))
}

/// Smooth colours with some noise, like a photo (compresses like one too).
pub fn photo(width: u32, height: u32) -> RgbaImage {
    let mut seed = 0x2545_f491_u32;
    RgbaImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 32) as u8;
        Rgba([(x * 200 / width) as u8 + noise, (y * 200 / height) as u8 + noise, 120 + noise, 255])
    })
}

pub fn png(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8)
        .unwrap();
    out
}

pub fn png_rgb(image: &RgbaImage) -> Vec<u8> {
    let rgb = image::DynamicImage::ImageRgba8(image.clone()).to_rgb8();
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(rgb.as_raw(), rgb.width(), rgb.height(), ExtendedColorType::Rgb8).unwrap();
    out
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let crc = crc32fast::hash(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    chunk
}

/// `png` with `chunks` inserted right after IHDR (8 bytes of signature, 25 of IHDR).
pub fn png_with(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = png[..33].to_vec();
    chunks.iter().for_each(|c| out.extend_from_slice(c));
    out.extend_from_slice(&png[33..]);
    out
}

/// A PNG signature and IHDR claiming `width` x `height`, with no pixel data.
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

pub fn jpeg(image: &RgbaImage, quality: u8) -> Vec<u8> {
    let rgb = image::DynamicImage::ImageRgba8(image.clone()).to_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(rgb.as_raw(), rgb.width(), rgb.height(), ExtendedColorType::Rgb8)
        .unwrap();
    out
}

pub fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut segment = vec![0xFF, marker];
    segment.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    segment.extend_from_slice(payload);
    segment
}

/// `jpeg` with `segments` inserted right after SOI.
pub fn jpeg_with(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    segments.iter().for_each(|s| out.extend_from_slice(s));
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// `jpeg` without the APP0 (JFIF) segment encoders put first.
pub fn jpeg_without_app0(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(jpeg[2..4], [0xFF, 0xE0]);
    let len = usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    [&jpeg[..2], &jpeg[4 + len..]].concat()
}

/// The marker segments of a JPEG before its first scan: (marker, payload).
pub fn jpeg_segments(jpeg: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut segments = Vec::new();
    let mut at = 2;
    while jpeg[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        segments.push((jpeg[at + 1], jpeg[at + 4..at + 2 + len].to_vec()));
        at += 2 + len;
    }
    segments
}

/// Text that only the GPS block holds, to look for afterwards.
pub const GPS_DATUM: &[u8] = b"WGS-84 at the secret cabin";

/// A little-endian TIFF block as a camera writes it: IFD0 with the orientation and a pointer
/// to a GPS IFD (latitude and a map datum).
pub fn exif_with_gps(orientation: u16) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend(tag.to_le_bytes());
        t.extend(kind.to_le_bytes());
        t.extend(count.to_le_bytes());
        t.extend(value);
    };
    // IFD0 at 8: two entries, ends at 38.
    t.extend(2u16.to_le_bytes());
    let o = orientation.to_le_bytes();
    entry(&mut t, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut t, 0x8825, 4, 1, 38u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    // GPS IFD at 38: three entries, ends at 80; the latitude at 80, the datum at 104.
    t.extend(3u16.to_le_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, 80u32.to_le_bytes());
    entry(&mut t, 0x0012, 2, GPS_DATUM.len() as u32 + 1, 104u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    for (num, den) in [(51u32, 1u32), (30, 1), (2634, 100)] {
        t.extend(num.to_le_bytes());
        t.extend(den.to_le_bytes());
    }
    t.extend_from_slice(GPS_DATUM);
    t.push(0);
    t
}

/// A JPEG APP1 EXIF segment around `tiff`.
pub fn exif_app1(tiff: &[u8]) -> Vec<u8> {
    jpeg_segment(0xE1, &[b"Exif\0\0".as_slice(), tiff].concat())
}

/// An animated GIF, one `width` x `height` frame per colour, looping forever.
pub fn gif(width: u32, height: u32, colours: &[[u8; 4]]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        let frames = colours.iter().map(|&c| {
            Frame::from_parts(RgbaImage::from_pixel(width, height, Rgba(c)), 0, 0, Delay::from_numer_denom_ms(100, 1))
        });
        encoder.encode_frames(frames).unwrap();
    }
    out
}

/// A GIF extension block: introducer, label, `data` in sub-blocks, terminator.
pub fn gif_extension(label: u8, data: &[&[u8]]) -> Vec<u8> {
    let mut block = vec![0x21, label];
    for sub in data {
        block.push(sub.len() as u8);
        block.extend_from_slice(sub);
    }
    block.push(0);
    block
}

/// The last image block (descriptor, colour table, data) of a well-formed GIF.
pub fn gif_last_image(gif: &[u8]) -> Vec<u8> {
    let sub_blocks_end = |mut at: usize| {
        while gif[at] != 0 {
            at += 1 + usize::from(gif[at]);
        }
        at + 1
    };
    let table = |packed: u8| if packed & 0x80 == 0 { 0 } else { 3 << ((packed & 7) + 1) };
    let mut at = 13 + table(gif[10]);
    let mut last = None;
    while gif[at] != 0x3B {
        let start = at;
        at = if gif[at] == 0x2C { sub_blocks_end(at + 10 + table(gif[at + 9]) + 1) } else { sub_blocks_end(at + 2) };
        if gif[start] == 0x2C {
            last = Some(gif[start..at].to_vec());
        }
    }
    last.unwrap()
}

/// A lossless WebP as the image crate writes it: a simple file with one VP8L chunk.
pub fn webp(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(Cursor::new(&mut out))
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgba8)
        .unwrap();
    out
}

pub fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = kind.to_vec();
    chunk.extend((data.len() as u32).to_le_bytes());
    chunk.extend_from_slice(data);
    if data.len() % 2 == 1 {
        chunk.push(0);
    }
    chunk
}

/// The chunks of a WebP file after "RIFF size WEBP", as (FourCC, payload).
pub fn riff_chunks(webp: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut at = 12;
    while at + 8 <= webp.len() {
        let size = u32::from_le_bytes(webp[at + 4..at + 8].try_into().unwrap()) as usize;
        chunks.push((webp[at..at + 4].try_into().unwrap(), webp[at + 8..at + 8 + size].to_vec()));
        at += 8 + size + size % 2;
    }
    chunks
}

/// A VP8X payload: `flags` and the canvas size.
pub fn vp8x(flags: u8, width: u32, height: u32) -> Vec<u8> {
    let mut payload = vec![flags, 0, 0, 0];
    payload.extend(&(width - 1).to_le_bytes()[..3]);
    payload.extend(&(height - 1).to_le_bytes()[..3]);
    payload
}

/// A RIFF WebP file of `chunks`.
pub fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend(body);
    out
}

/// The VP8L chunk of a simple lossless WebP made from `image`.
pub fn vp8l(image: &RgbaImage) -> Vec<u8> {
    let file = webp(image);
    let (kind, payload) = riff_chunks(&file).remove(0);
    assert_eq!(&kind, b"VP8L");
    riff_chunk(b"VP8L", &payload)
}

/// An animated WebP: one full-canvas frame per colour, 100 ms each.
pub fn animated_webp(width: u32, height: u32, colours: &[[u8; 4]]) -> Vec<u8> {
    let mut chunks = vec![riff_chunk(b"VP8X", &vp8x(0x02, width, height)), riff_chunk(b"ANIM", &[0, 0, 0, 0, 0, 0])];
    for &colour in colours {
        let mut frame = vec![0; 6];
        frame.extend(&(width - 1).to_le_bytes()[..3]);
        frame.extend(&(height - 1).to_le_bytes()[..3]);
        frame.extend(&100u32.to_le_bytes()[..3]);
        frame.push(0b10); // no blending, no disposal
        frame.extend(vp8l(&RgbaImage::from_pixel(width, height, Rgba(colour))));
        chunks.push(riff_chunk(b"ANMF", &frame));
    }
    riff(&chunks)
}

/// The pixels an image decodes to, as RGBA.
pub fn pixels(bytes: &[u8]) -> RgbaImage {
    image::load_from_memory(bytes).unwrap().to_rgba8()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
