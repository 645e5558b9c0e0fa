mod build;
mod processing;
mod sniffing;
mod stripping;

use super::Limits;

/// The defaults the API documents: 40 megapixels, 320 px thumbnails.
const LIMITS: Limits = Limits { max_pixels: 40_000_000, thumbnail_max_side: 320 };
