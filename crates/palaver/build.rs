//! Embeds the web client (`web/` at the repository root) in the binary: every file of
//! `web/app/` is served under `/assets/<version>/`, where `<version>` is a hash of them all,
//! so relative ES module imports keep working and each release's URLs can be cached
//! forever; `web/index.html` gets that version written in and is revalidated every time.
//! Text files are gzipped here, once, so the server never compresses at run time.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let web = manifest.join("../../web");
    // A directory is scanned for any change under it.
    println!("cargo:rerun-if-changed={}", web.join("index.html").display());
    println!("cargo:rerun-if-changed={}", web.join("app").display());

    let mut files = Vec::new();
    collect(&web.join("app"), "", &mut files);
    files.sort();

    let mut version = Sha256::new();
    let mut assets = Vec::new();
    for (path, file) in &files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        version.update(path.as_bytes());
        version.update([0]);
        version.update((bytes.len() as u64).to_le_bytes());
        version.update(&bytes);
        assets.push((path.clone(), bytes));
    }
    let version = hex(&version.finalize()[..6]);

    let index = std::fs::read_to_string(web.join("index.html")).expect("web/index.html exists");
    assert!(index.contains("__VERSION__"), "web/index.html refers to its assets as /assets/__VERSION__/...");
    let index = index.replace("__VERSION__", &version);

    let embed_dir = out.join("web");
    std::fs::create_dir_all(&embed_dir).expect("OUT_DIR is writable");
    let mut code = String::new();
    writeln!(code, "/// A hash of every asset: the `<version>` in `/assets/<version>/...`.").unwrap();
    writeln!(code, "pub const VERSION: &str = {version:?};").unwrap();
    writeln!(code, "pub static INDEX: Asset = {};", entry(&embed_dir, "index.html", index.as_bytes(), 0)).unwrap();
    writeln!(code, "/// Sorted by path.").unwrap();
    writeln!(code, "pub static ASSETS: &[Asset] = &[").unwrap();
    for (n, (path, bytes)) in assets.iter().enumerate() {
        writeln!(code, "    {},", entry(&embed_dir, path, bytes, n + 1)).unwrap();
    }
    writeln!(code, "];").unwrap();
    std::fs::write(out.join("web_assets.rs"), code).expect("OUT_DIR is writable");
}

/// One `Asset { .. }` literal; the bytes (and their gzip, when that is smaller) are written
/// to `dir` and included from there.
fn entry(dir: &Path, path: &str, bytes: &[u8], n: usize) -> String {
    let raw = dir.join(format!("{n}.raw"));
    std::fs::write(&raw, bytes).expect("OUT_DIR is writable");
    let etag = format!("\"{}\"", hex(&Sha256::digest(bytes)[..12]));
    let mime = mime(path);
    let gzip = if mime.starts_with("text/") || mime.starts_with("image/svg") || mime.starts_with("application/json") {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(bytes).expect("gzip into memory");
        let compressed = encoder.finish().expect("gzip into memory");
        (compressed.len() < bytes.len()).then(|| {
            let gz = dir.join(format!("{n}.gz"));
            std::fs::write(&gz, compressed).expect("OUT_DIR is writable");
            gz
        })
    } else {
        None
    };
    let gzip = match gzip {
        Some(gz) => format!("Some(include_bytes!({:?}))", gz.display().to_string()),
        None => "None".to_owned(),
    };
    format!(
        "Asset {{ path: {path:?}, mime: {mime:?}, etag: {etag:?}, raw: include_bytes!({:?}), gzip: {gzip} }}",
        raw.display().to_string()
    )
}

fn collect(dir: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a readable directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), files);
        } else {
            files.push((format!("{prefix}{name}"), path));
        }
    }
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        other => panic!("web/app/{path}: no Content-Type known for .{other}; add it to build.rs"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
