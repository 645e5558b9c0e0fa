//! JPEG: a walk over the marker segments. Kept: the tables and frame/scan headers the decoder
//! needs, APP0 JFIF (without its embedded thumbnail), APP2 ICC_PROFILE and APP14 Adobe (both
//! change the colours). Dropped: every other APPn (EXIF and XMP in APP1, MPF's extra images
//! in APP2, IPTC in APP13, ...), comments, and everything after the end-of-image marker.
//! Between scans of a progressive JPEG the same rules apply.

use image::metadata::Orientation;

use super::{take, u16_be};
use crate::uploads::image::{Rejection, exif};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const TEM: u8 = 0x01;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;

/// APP0's fields up to the thumbnail size: "JFIF\0", version, units and densities.
const JFIF_HEADER: usize = 12;

pub(super) fn strip(bytes: &[u8], orientation: Orientation) -> Result<Vec<u8>, Rejection> {
    if bytes.get(..2) != Some(&[0xFF, SOI]) {
        return Err(Rejection::corrupt("no JPEG start-of-image marker"));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, SOI]);
    // Written once, just after APP0 if there is one (JFIF wants APP0 first), else first.
    let mut orientation_due = orientation != Orientation::NoTransforms;
    let mut scans = 0usize;
    let mut at = 2;
    loop {
        if scans > 0 {
            let end = entropy_coded_end(bytes, at)?;
            out.extend_from_slice(&bytes[at..end]);
            at = end;
        }
        let (marker, start) = marker_at(bytes, at)?;
        match marker {
            EOI if scans > 0 => {
                out.extend_from_slice(&[0xFF, EOI]);
                return Ok(out);
            }
            EOI => return Err(Rejection::corrupt("the JPEG ends before any image data")),
            TEM => {
                out.extend_from_slice(&[0xFF, TEM]);
                at = start + 2;
                continue;
            }
            SOI | 0x00 | 0xD0..=0xD7 => {
                return Err(Rejection::corrupt(format!("unexpected JPEG marker {marker:02X}")));
            }
            _ => {}
        }
        let length = usize::from(u16_be(bytes, start + 2, "a JPEG segment")?);
        if length < 2 {
            return Err(Rejection::corrupt("a JPEG segment length below 2"));
        }
        let segment = take(bytes, start, 2 + length, "a JPEG segment")?;
        let payload = &segment[4..];
        at = start + 2 + length;
        match marker {
            APP0 if payload.starts_with(b"JFIF\0") && payload.len() >= JFIF_HEADER + 2 => {
                out.extend_from_slice(&[0xFF, APP0]);
                out.extend_from_slice(&(2 + JFIF_HEADER as u16 + 2).to_be_bytes());
                out.extend_from_slice(&payload[..JFIF_HEADER]);
                // No thumbnail: an old uncropped preview of the photo could hide in it.
                out.extend_from_slice(&[0, 0]);
                continue;
            }
            APP2 if payload.starts_with(b"ICC_PROFILE\0") => {}
            APP14 if payload.starts_with(b"Adobe") => {}
            APP0..=0xEF | COM => continue,
            _ => {}
        }
        if orientation_due {
            write_orientation(&mut out, orientation);
            orientation_due = false;
        }
        out.extend_from_slice(segment);
        if marker == SOS {
            scans += 1;
        }
    }
}

/// The marker at `at` (after any 0xFF fill bytes) and where its 0xFF starts.
fn marker_at(bytes: &[u8], mut at: usize) -> Result<(u8, usize), Rejection> {
    if take(bytes, at, 1, "a JPEG marker")?[0] != 0xFF {
        return Err(Rejection::corrupt("a JPEG segment where a marker belongs"));
    }
    while take(bytes, at + 1, 1, "a JPEG marker")?[0] == 0xFF {
        at += 1;
    }
    Ok((bytes[at + 1], at))
}

/// Where the entropy-coded data from `at` ends: the first 0xFF that is neither a stuffed
/// 0xFF00, a restart marker nor a fill byte.
fn entropy_coded_end(bytes: &[u8], at: usize) -> Result<usize, Rejection> {
    let mut i = at;
    while let Some(offset) = bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
        let ff = i + offset;
        match bytes.get(ff + 1) {
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => i = ff + 1,
            Some(_) => return Ok(ff),
            None => break,
        }
    }
    Err(Rejection::corrupt("the JPEG ends inside its image data"))
}

fn write_orientation(out: &mut Vec<u8>, orientation: Orientation) {
    let tiff = exif::orientation_only(orientation);
    out.extend_from_slice(&[0xFF, APP1]);
    out.extend_from_slice(&(2 + 6 + tiff.len() as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
}
