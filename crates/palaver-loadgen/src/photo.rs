//! The photo the uploads scenario sends: a JPEG made here, once per run, that costs the
//! server what a phone camera's photo costs it. A flat or tiny image would decode and
//! thumbnail in no time and say nothing; this one has a real photo's pixel count and, through
//! gradients, shapes, texture and sensor-like noise, roughly its entropy (a few MB at quality
//! 85 for 12 megapixels, as a phone's JPEG).

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The same seed every run: the same photo, so runs compare.
const SEED: u64 = 0x0070_616c_6176_6572;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PhotoSpec {
    pub width: u32,
    pub height: u32,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
}

pub struct Photo {
    pub spec: PhotoSpec,
    pub jpeg: Bytes,
    pub encode_time: Duration,
}

impl Photo {
    pub const MIME: &'static str = "image/jpeg";

    /// CPU-bound for a second or more at 12 megapixels: run it off the async runtime.
    pub fn generate(spec: PhotoSpec) -> anyhow::Result<Photo> {
        anyhow::ensure!(spec.width > 0 && spec.height > 0, "the photo needs a width and a height");
        anyhow::ensure!((1..=100).contains(&spec.quality), "JPEG quality is 1 to 100");
        let started = Instant::now();
        let pixels = paint(spec.width, spec.height);
        let mut jpeg = Vec::with_capacity(pixels.len() / 8);
        JpegEncoder::new_with_quality(&mut jpeg, spec.quality)
            .encode(&pixels, spec.width, spec.height, ExtendedColorType::Rgb8)
            .context("encoding the photo")?;
        Ok(Photo { spec, jpeg: Bytes::from(jpeg), encode_time: started.elapsed() })
    }

    pub fn megapixels(&self) -> f64 {
        f64::from(self.spec.width) * f64::from(self.spec.height) / 1e6
    }
}

/// RGB rows: a sky-to-ground gradient, large soft shapes, finer texture, and per-pixel noise.
/// The smooth parts are separable (a table per column and per row) so 12 M pixels stay cheap
/// to compute even in a debug build.
fn paint(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut rng = SmallRng::seed_from_u64(SEED);
    let waves = |n: usize, rng: &mut SmallRng| -> Vec<f32> {
        let parts: Vec<(f32, f32, f32)> = (0..4)
            .map(|k| {
                let cycles = 1.5 * (k as f32 + 1.0).powi(2) + rng.random::<f32>();
                (cycles * std::f32::consts::TAU / n as f32, rng.random::<f32>() * 6.3, 28.0 / (k as f32 + 1.0))
            })
            .collect();
        (0..n).map(|i| parts.iter().map(|&(f, phase, amp)| amp * (f * i as f32 + phase).sin()).sum()).collect()
    };
    let shapes_x = waves(w, &mut rng);
    let shapes_y = waves(h, &mut rng);
    // Texture: a fine pattern whose phase drifts, like foliage or fabric.
    let texture_x: Vec<f32> = (0..w).map(|x| (x as f32 * 0.21).sin() * 14.0).collect();
    let drift_y: Vec<f32> = (0..h).map(|y| (y as f32 * 0.013).sin() * 3.0).collect();

    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let t = y as f32 / h as f32;
        // Top: pale blue; bottom: warm green-brown.
        let base = [120.0 + 40.0 * t, 160.0 - 10.0 * t, 210.0 - 140.0 * t];
        let (sy, drift) = (shapes_y[y], drift_y[y]);
        for x in 0..w {
            let texture = texture_x[x] * drift.cos() * t;
            let light = shapes_x[x] * 0.7 + sy + shapes_x[x] * sy / 40.0 + texture;
            let noise: u32 = rng.random();
            // Luminance noise (a triangle of two bytes) and a little chroma noise.
            let luma = ((noise & 0xff) as f32 + ((noise >> 8) & 0xff) as f32 - 255.0) / 14.0;
            let chroma = (((noise >> 16) & 0xff) as f32 - 127.5) / 40.0;
            pixels.push(clamp(base[0] + light + luma + chroma));
            pixels.push(clamp(base[1] + light * 0.9 + luma));
            pixels.push(clamp(base[2] + light * 0.8 + luma - chroma));
        }
    }
    pixels
}

fn clamp(v: f32) -> u8 {
    v.clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decodable_jpeg_of_the_size_asked_for() {
        let photo = Photo::generate(PhotoSpec { width: 400, height: 300, quality: 85 }).unwrap();
        assert_eq!(&photo.jpeg[..3], &[0xff, 0xd8, 0xff], "JPEG SOI marker");
        let decoded = image::load_from_memory_with_format(&photo.jpeg, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (400, 300));
        // Noise and texture keep it photo-like: far from the few KB a flat image takes.
        assert!(photo.jpeg.len() > 400 * 300 / 10, "{} bytes", photo.jpeg.len());
        let again = Photo::generate(photo.spec).unwrap();
        assert_eq!(photo.jpeg, again.jpeg, "the same photo every run");
    }

    #[test]
    fn refuses_a_bad_spec() {
        assert!(Photo::generate(PhotoSpec { width: 0, height: 10, quality: 85 }).is_err());
        assert!(Photo::generate(PhotoSpec { width: 10, height: 10, quality: 0 }).is_err());
    }
}
