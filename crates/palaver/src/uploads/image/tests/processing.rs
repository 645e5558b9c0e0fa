use std::time::{Duration, Instant};

use super::LIMITS;
use super::build::*;
use crate::uploads::image::{ImageFormat, Limits, Processed, Rejection, process};

fn thumbnail_pixels(processed: &Processed) -> image::RgbaImage {
    let decoded = pixels(&processed.thumbnail);
    assert_eq!(decoded.dimensions(), (processed.thumbnail_width, processed.thumbnail_height));
    decoded
}

#[test]
fn every_format_is_accepted_with_its_dimensions() {
    let image = photo(640, 400);
    let cases = [
        (png(&image), ImageFormat::Png),
        (jpeg(&image, 85), ImageFormat::Jpeg),
        (gif(64, 40, &[RED, BLUE]), ImageFormat::Gif),
        (webp(&image), ImageFormat::Webp),
    ];
    for (bytes, format) in cases {
        let processed = process(&bytes, &LIMITS).unwrap();
        assert_eq!(processed.format, format);
        let expected = if format == ImageFormat::Gif { (64, 40) } else { (640, 400) };
        assert_eq!((processed.width, processed.height), expected, "{format:?}");
        let thumbnail = if format == ImageFormat::Gif { (64, 40) } else { (320, 200) };
        assert_eq!(thumbnail_pixels(&processed).dimensions(), thumbnail, "{format:?}");
        assert_eq!(processed.thumbnail_format, ImageFormat::Jpeg, "opaque: {format:?}");
    }
}

#[test]
fn thumbnails_fit_the_longest_side_and_are_never_enlarged() {
    for ((width, height), expected) in [((1000, 500), (320, 160)), ((500, 1000), (160, 320)), ((100, 50), (100, 50))] {
        let processed = process(&jpeg(&photo(width, height), 85), &LIMITS).unwrap();
        assert_eq!((processed.width, processed.height), (width, height));
        assert_eq!((processed.thumbnail_width, processed.thumbnail_height), expected);
        assert_eq!(thumbnail_pixels(&processed).dimensions(), expected);
    }
}

#[test]
fn a_transparent_png_gets_a_png_thumbnail_and_an_opaque_one_a_jpeg() {
    let mut image = photo(400, 400);
    image.put_pixel(10, 10, image::Rgba([0, 0, 0, 0]));
    let processed = process(&png(&image), &LIMITS).unwrap();
    assert_eq!(processed.thumbnail_format, ImageFormat::Png);
    let thumbnail = thumbnail_pixels(&processed);
    assert_eq!(thumbnail.dimensions(), (320, 320));
    assert!(thumbnail.pixels().any(|p| p[3] < 255), "the transparency survives");
    let chunks = png_chunk_types(&processed.thumbnail);
    assert!(chunks.iter().all(|c| [b"IHDR", b"IDAT", b"IEND"].contains(c)), "no metadata: {chunks:?}");

    // An alpha channel that is opaque everywhere has nothing a JPEG would lose.
    let opaque = process(&png(&photo(400, 400)), &LIMITS).unwrap();
    assert_eq!(opaque.thumbnail_format, ImageFormat::Jpeg);
}

fn png_chunk_types(png: &[u8]) -> Vec<&[u8; 4]> {
    let mut types = Vec::new();
    let mut at = 8;
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        types.push(png[at + 4..at + 8].try_into().unwrap());
        at += 12 + len;
    }
    types
}

#[test]
fn a_jpeg_turned_by_exif_is_shown_upright_and_its_thumbnail_has_no_exif() {
    // Stored 40 x 20, left red and right blue; orientation 6 turns it a quarter clockwise,
    // so it shows 20 x 40 with red on top.
    let bytes = jpeg_with(&jpeg(&halves(40, 20), 95), &[exif_app1(&exif_with_gps(6))]);
    let processed = process(&bytes, &LIMITS).unwrap();
    assert_eq!((processed.width, processed.height), (20, 40));
    assert_eq!(processed.thumbnail_format, ImageFormat::Jpeg);
    let thumbnail = thumbnail_pixels(&processed);
    assert_eq!(thumbnail.dimensions(), (20, 40));
    let top = thumbnail.get_pixel(10, 5);
    let bottom = thumbnail.get_pixel(10, 35);
    assert!(top[0] > 200 && top[2] < 60, "top is red: {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "bottom is blue: {bottom:?}");
    let markers: Vec<u8> = jpeg_segments(&processed.thumbnail).into_iter().map(|(m, _)| m).collect();
    assert!(markers.iter().all(|m| !(0xE1..=0xEF).contains(m) && *m != 0xFE), "no metadata: {markers:02X?}");
    assert!(!contains(&processed.thumbnail, b"Exif"));
    assert!(!contains(&processed.thumbnail, GPS_DATUM));
}

#[test]
fn an_animation_is_thumbnailed_from_its_first_frame() {
    for (bytes, format) in
        [(gif(40, 30, &[RED, BLUE, BLUE]), ImageFormat::Gif), (animated_webp(40, 30, &[RED, BLUE]), ImageFormat::Webp)]
    {
        let processed = process(&bytes, &LIMITS).unwrap();
        assert_eq!((processed.format, processed.width, processed.height), (format, 40, 30));
        let thumbnail = thumbnail_pixels(&processed);
        let pixel = thumbnail.get_pixel(20, 15);
        assert!(pixel[0] > 200 && pixel[2] < 60, "{format:?}: the first frame is red: {pixel:?}");
    }
}

#[test]
fn a_header_claiming_too_many_pixels_is_refused_before_decoding() {
    let started = Instant::now();
    let refused = process(&png_header(60_000, 60_000), &LIMITS);
    assert_eq!(refused.unwrap_err(), Rejection::TooManyPixels { width: 60_000, height: 60_000, max: 40_000_000 });
    // 14 GB of pixels were never allocated, let alone filled.
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());

    // A GIF whose 10 x 10 screen passes, with a frame claiming 60000 x 60000: the decoder's
    // own allocation limit refuses it, as a lie about its size.
    let mut huge_frame = b"GIF89a\x0a\x00\x0a\x00\x80\x00\x00\xff\x00\x00\x00\x00\xff".to_vec();
    huge_frame.extend([0x2C, 0, 0, 0, 0, 0x60, 0xEA, 0x60, 0xEA, 0, 2, 2, 0x44, 0x01, 0, 0x3B]);
    let started = Instant::now();
    let refused = process(&huge_frame, &LIMITS);
    assert!(matches!(&refused, Err(Rejection::Corrupt(why)) if why.contains("header")), "{refused:?}");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());

    let small = Limits { max_pixels: 5_000, thumbnail_max_side: 320 };
    for bytes in [jpeg(&photo(100, 100), 80), gif(100, 100, &[RED]), webp(&photo(100, 100))] {
        assert_eq!(
            process(&bytes, &small).unwrap_err(),
            Rejection::TooManyPixels { width: 100, height: 100, max: 5_000 }
        );
    }
    assert!(process(&jpeg(&photo(50, 100), 80), &small).is_ok(), "exactly the limit is allowed");
}

#[test]
fn truncated_or_garbled_images_are_corrupt() {
    let image = photo(200, 150);
    for bytes in [png(&image), jpeg(&image, 85), gif(200, 150, &[RED, BLUE]), webp(&image)] {
        for cut in [bytes.len() / 2, bytes.len() - 1] {
            let refused = process(&bytes[..cut], &LIMITS);
            assert!(matches!(refused, Err(Rejection::Corrupt(_))), "cut at {cut} of {}: {refused:?}", bytes.len());
        }
        let mut garbled = bytes[..16].to_vec();
        garbled.extend(std::iter::repeat_n(0xA5, 4096));
        assert!(matches!(process(&garbled, &LIMITS), Err(Rejection::Corrupt(_))), "{:?}", &bytes[..4]);
    }
}
