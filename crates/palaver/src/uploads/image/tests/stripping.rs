use std::io::Cursor;

use image::metadata::Orientation;
use image::{AnimationDecoder, ImageDecoder, ImageReader};

use super::LIMITS;
use super::build::*;
use crate::uploads::image::{Rejection, exif, process};

/// The orientation a decoder reads from `bytes`, as a browser would.
fn orientation(bytes: &[u8]) -> Orientation {
    ImageReader::new(Cursor::new(bytes)).with_guessed_format().unwrap().into_decoder().unwrap().orientation().unwrap()
}

fn frames(bytes: &[u8], gif: bool) -> Vec<(Vec<u8>, image::Delay)> {
    let frames = if gif {
        image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).unwrap().into_frames().collect_frames()
    } else {
        image::codecs::webp::WebPDecoder::new(Cursor::new(bytes)).unwrap().into_frames().collect_frames()
    };
    frames.unwrap().into_iter().map(|f| (f.buffer().as_raw().clone(), f.delay())).collect()
}

#[test]
fn a_jpeg_keeps_its_pixels_colour_and_orientation_and_loses_the_rest() {
    let mut jfif = b"JFIF\0\x01\x02\x00\x00\x48\x00\x48".to_vec();
    jfif.extend([1, 1, 9, 9, 9]); // a 1 x 1 embedded thumbnail
    let icc = [b"ICC_PROFILE\0\x01\x01".as_slice(), b"a colour profile"].concat();
    let adobe = b"Adobe\x00\x64\x00\x00\x00\x00\x01";
    let bytes = jpeg_with(
        &jpeg_without_app0(&jpeg(&photo(120, 80), 90)),
        &[
            jpeg_segment(0xE0, &jfif),
            exif_app1(&exif_with_gps(6)),
            jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Alice's cabin</x:xmpmeta>"),
            jpeg_segment(0xE2, &icc),
            jpeg_segment(0xE2, b"MPF\0a second image"),
            jpeg_segment(0xED, b"Photoshop 3.0\0IPTC by Alice"),
            jpeg_segment(0xEE, adobe),
            jpeg_segment(0xFE, b"shot by Alice"),
        ],
    );
    let mut uploaded = bytes.clone();
    uploaded.extend_from_slice(b"PK\x03\x04 a zip riding along");

    let processed = process(&uploaded, &LIMITS).unwrap();
    let original = &processed.original;
    assert_eq!((processed.width, processed.height), (80, 120));
    for leak in [GPS_DATUM, b"Alice", b"MPF\0", b"PK\x03\x04", &[9, 9, 9]] {
        assert!(!contains(original, leak), "{:?} left in", String::from_utf8_lossy(leak));
    }
    assert!(original.ends_with(&[0xFF, 0xD9]), "nothing after the end of the image");
    let segments = jpeg_segments(original);
    let app: Vec<(u8, Vec<u8>)> = segments.iter().filter(|(m, _)| (0xE0..=0xEF).contains(m)).cloned().collect();
    assert_eq!(app[0], (0xE0, b"JFIF\0\x01\x02\x00\x00\x48\x00\x48\0\0".to_vec()), "JFIF, without its thumbnail");
    assert_eq!(app[1], (0xE1, [b"Exif\0\0".as_slice(), &exif::orientation_only(Orientation::Rotate90)].concat()));
    assert_eq!(app[2], (0xE2, icc));
    assert_eq!(app[3], (0xEE, adobe.to_vec()));
    assert_eq!(app.len(), 4, "{:02X?}", app.iter().map(|(m, _)| m).collect::<Vec<_>>());
    assert!(!segments.iter().any(|(m, _)| *m == 0xFE), "no comment");
    assert_eq!(orientation(original), Orientation::Rotate90);
    assert_eq!(pixels(original), pixels(&bytes), "the same pixels");
}

#[test]
fn an_upright_jpeg_keeps_no_exif_at_all() {
    let bytes = jpeg_with(&jpeg(&photo(64, 48), 90), &[exif_app1(&exif_with_gps(1))]);
    let processed = process(&bytes, &LIMITS).unwrap();
    assert!(!jpeg_segments(&processed.original).iter().any(|(m, _)| *m == 0xE1));
    assert_eq!((processed.width, processed.height), (64, 48));
    assert_eq!(pixels(&processed.original), pixels(&bytes));
}

#[test]
fn a_png_keeps_its_pixels_colour_and_orientation_and_loses_the_rest() {
    let mut image = halves(60, 30);
    image.put_pixel(0, 0, image::Rgba([1, 2, 3, 0]));
    let gama = png_chunk(b"gAMA", &45455u32.to_be_bytes());
    let bytes = png_with(
        &png(&image),
        &[
            gama.clone(),
            png_chunk(b"eXIf", &exif_with_gps(6)),
            png_chunk(b"tEXt", b"Author\0Alice"),
            png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>Alice</x:xmpmeta>"),
            png_chunk(b"tIME", &[7, 232, 1, 2, 3, 4, 5]),
            png_chunk(b"prVt", b"Alice's private chunk"),
        ],
    );
    let mut uploaded = bytes.clone();
    uploaded.extend_from_slice(b"<script>after IEND</script>");

    let processed = process(&uploaded, &LIMITS).unwrap();
    let original = &processed.original;
    assert_eq!((processed.width, processed.height), (30, 60), "eXIf orientation 6 applied");
    assert!(!contains(original, b"Alice") && !contains(original, GPS_DATUM) && !contains(original, b"script"));
    let chunks = [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        bytes[8..33].to_vec(),
        gama,
        png_chunk(b"eXIf", &exif::orientation_only(Orientation::Rotate90)),
    ]
    .concat();
    assert!(original.starts_with(&chunks), "IHDR, gAMA, then an orientation-only eXIf before IDAT");
    assert!(original.ends_with(&png_chunk(b"IEND", &[])));
    assert_eq!(orientation(original), Orientation::Rotate90);
    assert_eq!(pixels(original), pixels(&bytes), "the same pixels");
}

#[test]
fn a_png_with_a_bad_crc_or_an_unknown_critical_chunk_is_corrupt() {
    let bytes = png_rgb(&photo(20, 20));
    let mut bad_crc = bytes.clone();
    bad_crc[30] ^= 0xFF; // inside IHDR's CRC
    let unknown = png_with(&bytes, &[png_chunk(b"ZZZZ", b"must understand")]);
    for bytes in [bad_crc, unknown] {
        assert!(matches!(process(&bytes, &LIMITS), Err(Rejection::Corrupt(_))));
    }
}

#[test]
fn a_webp_loses_exif_xmp_and_unknown_chunks_and_keeps_its_pixels_and_orientation() {
    let image = photo(48, 32);
    const EXIF: u8 = 0x08;
    const XMP: u8 = 0x04;
    let bytes = riff(&[
        riff_chunk(b"VP8X", &vp8x(EXIF | XMP, 48, 32)),
        riff_chunk(b"ICCP", b"a colour profile"),
        vp8l(&image),
        riff_chunk(b"EXIF", &exif_with_gps(6)),
        riff_chunk(b"XMP ", b"<x:xmpmeta>Alice</x:xmpmeta>"),
        riff_chunk(b"ZZZZ", b"Alice's unknown chunk"),
    ]);
    let mut uploaded = bytes.clone();
    uploaded.extend_from_slice(b"trailing Alice");

    let processed = process(&uploaded, &LIMITS).unwrap();
    let original = &processed.original;
    assert_eq!((processed.width, processed.height), (32, 48));
    assert!(!contains(original, b"Alice") && !contains(original, GPS_DATUM));
    let riff_size = u32::from_le_bytes(original[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff_size, original.len() - 8);
    let chunks = riff_chunks(original);
    let kinds: Vec<&[u8; 4]> = chunks.iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, [b"VP8X", b"ICCP", b"VP8L", b"EXIF"]);
    assert_eq!(chunks[0].1[0], EXIF, "only the EXIF flag, for the orientation");
    assert_eq!(chunks[3].1, exif::orientation_only(Orientation::Rotate90));
    assert_eq!(orientation(original), Orientation::Rotate90);
    assert_eq!(pixels(original), pixels(&bytes), "the same pixels");
}

#[test]
fn an_animated_webp_keeps_every_frame_without_what_the_frames_hide() {
    let bytes = animated_webp(16, 12, &[RED, BLUE, RED]);
    // An unknown chunk inside the second frame, after its image data.
    let mut chunks = riff_chunks(&bytes);
    assert_eq!(&chunks[3].0, b"ANMF");
    chunks[3].1.extend(riff_chunk(b"ZZZZ", b"Alice"));
    let uploaded = riff(&chunks.iter().map(|(kind, payload)| riff_chunk(kind, payload)).collect::<Vec<_>>());

    let processed = process(&uploaded, &LIMITS).unwrap();
    assert!(!contains(&processed.original, b"Alice"));
    let kinds: Vec<[u8; 4]> = riff_chunks(&processed.original).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, [*b"VP8X", *b"ANIM", *b"ANMF", *b"ANMF", *b"ANMF"]);
    let stripped = frames(&processed.original, false);
    assert_eq!(stripped.len(), 3);
    assert_eq!(stripped, frames(&bytes, false));
}

#[test]
fn a_gif_keeps_its_frames_and_looping_and_loses_comments_and_xmp() {
    let animation = gif(16, 12, &[RED, BLUE]);
    assert_eq!(animation.last(), Some(&0x3B));
    let body = &animation[..animation.len() - 1];
    // A last frame with no graphic control of its own: the plain text's must not become its.
    let frame = gif_last_image(&animation);
    let bytes = [body, &frame, &[0x3B]].concat();
    let timing_of_the_text = gif_extension(0xF9, &[&[0, 0x61, 0x1E, 0]]);
    let mut uploaded = body.to_vec();
    uploaded.extend(gif_extension(0xFE, &[b"shot by Alice"]));
    uploaded.extend(gif_extension(0xFF, &[b"XMP DataXMP", b"<x:xmpmeta>Alice</x:xmpmeta>"]));
    uploaded.extend(&timing_of_the_text);
    uploaded.extend(gif_extension(0x01, &[&[0; 12], b"Alice was here"]));
    uploaded.extend(&frame);
    uploaded.push(0x3B);
    uploaded.extend_from_slice(b"<html>a polyglot</html>");

    let processed = process(&uploaded, &LIMITS).unwrap();
    let original = &processed.original;
    assert!(!contains(original, b"Alice") && !contains(original, b"html"));
    assert!(!contains(original, &timing_of_the_text), "a plain text's timing goes with it");
    assert!(contains(original, b"NETSCAPE2.0"), "still loops");
    assert_eq!(original.last(), Some(&0x3B));
    assert_eq!(frames(&bytes, true).len(), 3);
    assert_eq!(frames(original, true), frames(&bytes, true), "the same frames and delays");

    let truncated = &animation[..animation.len() - 1];
    assert!(matches!(process(truncated, &LIMITS), Err(Rejection::Corrupt(_))), "no trailer");
}
