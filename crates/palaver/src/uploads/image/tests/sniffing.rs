use super::LIMITS;
use super::build::*;
use crate::uploads::image::{ImageFormat, Rejection, SNIFF_LEN, Sniff, process, sniff};

#[test]
fn each_format_is_known_by_its_magic_bytes() {
    let cases = [
        (png(&halves(4, 4)), ImageFormat::Png),
        (jpeg(&halves(4, 4), 90), ImageFormat::Jpeg),
        (gif(4, 4, &[RED]), ImageFormat::Gif),
        (webp(&halves(4, 4)), ImageFormat::Webp),
    ];
    for (bytes, format) in cases {
        assert_eq!(sniff(&bytes[..SNIFF_LEN]), Sniff::Image(format));
        assert_eq!(sniff(&bytes), Sniff::Image(format), "more than SNIFF_LEN bytes is fine too");
    }
    assert_eq!(sniff(b"GIF87a"), Sniff::Image(ImageFormat::Gif), "decided as soon as the magic is complete");
    assert_eq!(sniff(b"\xff\xd8\xff"), Sniff::Image(ImageFormat::Jpeg));
}

#[test]
fn a_prefix_that_could_still_be_an_image_needs_more() {
    for prefix in [&b""[..], b"\x89PN", b"\xff\xd8", b"GIF8", b"RIFF\x10\0\0\0WE"] {
        assert_eq!(sniff(prefix), Sniff::NeedMore, "{prefix:?}");
    }
}

#[test]
fn other_files_are_unsupported() {
    let others: [&[u8]; 9] = [
        b"this is text saved as cat.png\n",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(document.cookie)</script></svg>",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0",
        b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0",
        b"PK\x03\x04\x14\0\0\0\x08\0",
        b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0",
        b"GIF88a",
        b"\x89PNG\r\n\x1a\x00",
    ];
    for bytes in others {
        assert_eq!(sniff(bytes), Sniff::Unsupported, "{:?}", String::from_utf8_lossy(bytes));
        assert_eq!(process(bytes, &LIMITS).unwrap_err(), Rejection::Unsupported);
    }
    assert_eq!(process(b"", &LIMITS).unwrap_err(), Rejection::Unsupported, "an empty file is no image");
}

#[test]
fn a_file_that_ends_inside_the_magic_is_corrupt() {
    assert!(matches!(process(b"\x89PNG\r", &LIMITS), Err(Rejection::Corrupt(_))));
}
