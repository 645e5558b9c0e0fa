//! The one piece of EXIF a stripped original keeps: its orientation, so a browser shows a
//! phone photo upright. Everything else (GPS, camera serial, timestamps) goes.

use image::metadata::Orientation;

/// The TIFF structure of an EXIF block holding only an Orientation tag: the bytes of a PNG
/// `eXIf` or WebP `EXIF` chunk, and of a JPEG APP1 after its `Exif\0\0` identifier.
pub(super) fn orientation_only(orientation: Orientation) -> [u8; 26] {
    let mut tiff = [0u8; 26];
    // Big-endian ("MM"), magic 42, the first IFD right after this 8-byte header.
    tiff[..8].copy_from_slice(&[b'M', b'M', 0, 42, 0, 0, 0, 8]);
    // One entry: tag 0x0112 (Orientation), type 3 (SHORT), count 1, the value left-aligned in
    // its 4-byte field; then 0 for "no next IFD".
    tiff[8..10].copy_from_slice(&1u16.to_be_bytes());
    tiff[10..12].copy_from_slice(&0x0112u16.to_be_bytes());
    tiff[12..14].copy_from_slice(&3u16.to_be_bytes());
    tiff[14..18].copy_from_slice(&1u32.to_be_bytes());
    tiff[18..20].copy_from_slice(&u16::from(orientation.to_exif()).to_be_bytes());
    tiff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_reads_back_as_the_orientation_it_holds() {
        for value in 1..=8 {
            let orientation = Orientation::from_exif(value).unwrap();
            assert_eq!(Orientation::from_exif_chunk(&orientation_only(orientation)), Some(orientation));
        }
    }
}
