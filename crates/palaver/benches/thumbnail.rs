//! How long `process` takes on a 12-megapixel photo: the target is 250 ms per upload in
//! release. Prints the median of a few runs, and the same steps done one by one with the
//! image crate to show where the time goes.
//!
//! cargo bench -p palaver --bench thumbnail

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageReader, RgbImage};
use palaver::uploads::image::{Limits, process};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;
const RUNS: usize = 9;

/// Gradients with per-channel noise: compresses like a photo from a phone (a few MB at 85).
fn photo() -> Vec<u8> {
    let mut seed = 0x9E37_79B9_u32;
    let image = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let mut noise = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 48) as u8
        };
        image::Rgb([(x * 200 / WIDTH) as u8 + noise(), (y * 200 / HEIGHT) as u8 + noise(), 100 + noise()])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(image.as_raw(), WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .expect("encoding the test photo");
    out
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time<T>(runs: usize, mut step: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        last = Some(std::hint::black_box(step()));
        times.push(started.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

fn main() {
    let jpeg = photo();
    let limits = Limits { max_pixels: 40_000_000, thumbnail_max_side: 320 };
    println!("input: {WIDTH} x {HEIGHT} JPEG, quality 85, {:.1} MB", jpeg.len() as f64 / 1e6);

    let (total, processed) = time(RUNS, || process(&jpeg, &limits).expect("the photo is accepted"));
    println!(
        "process: median {:.1} ms over {RUNS} runs (thumbnail {} x {}, {} KB; original {:.1} MB)",
        total.as_secs_f64() * 1e3,
        processed.thumbnail_width,
        processed.thumbnail_height,
        processed.thumbnail.len() / 1000,
        processed.original.len() as f64 / 1e6,
    );

    // The same work step by step.
    let (decode, image) = time(RUNS, || {
        ImageReader::with_format(Cursor::new(&jpeg), image::ImageFormat::Jpeg).decode().expect("decoding")
    });
    let (shrink, small) = time(RUNS, || image.thumbnail(320, 320));
    let (encode, _) = time(RUNS, || {
        let rgb = small.to_rgb8();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 80)
            .write_image(rgb.as_raw(), rgb.width(), rgb.height(), ExtendedColorType::Rgb8)
            .expect("encoding");
        out
    });
    for (step, took) in [("decode", decode), ("shrink (imageops::thumbnail)", shrink), ("encode 320 px JPEG", encode)] {
        println!("  {step}: {:.1} ms", took.as_secs_f64() * 1e3);
    }
}
