//! `POST /uploads` and the URLs it returns: which files are accepted (decided from their
//! bytes), every refusal, thumbnails, metadata, the headers images are served with, the
//! per-user limits and the sweep of uploads nobody attached.

use std::time::Duration;

use palaver::config::Config;
use serde_json::json;

use crate::helpers::*;

both_backends!(
    every_format_is_accepted_with_its_dimensions,
    files_that_are_not_images_are_refused_whatever_they_claim,
    broken_and_oversized_images_are_refused_before_decoding,
    the_gps_position_never_leaves_the_server,
    served_images_carry_headers_that_keep_them_inert,
    a_file_over_the_limit_is_refused_while_it_streams with one_mebibyte,
    uploads_per_minute_are_limited with two_a_minute,
    bytes_per_day_are_limited with small_daily_budget,
    unattached_uploads_are_swept_and_attached_ones_kept with short_unattached_ttl,
);

fn one_mebibyte(config: &mut Config) {
    config.uploads.max_bytes = 1024 * 1024;
}

fn two_a_minute(config: &mut Config) {
    config.uploads.per_minute = 2.0;
}

fn small_daily_budget(config: &mut Config) {
    config.uploads.bytes_per_day = 3000;
}

fn short_unattached_ttl(config: &mut Config) {
    config.uploads.unattached_ttl_secs = 60;
}

async fn every_format_is_accepted_with_its_dimensions(app: TestApp) {
    let alice = app.register("alice").await;
    let cases = [
        ("image/png", png(64, 48), (64, 48), (64, 48)),
        ("image/jpeg", jpeg(640, 480), (640, 480), (320, 240)),
        ("image/gif", animated_gif(30, 20), (30, 20), (30, 20)),
        ("image/webp", webp(50, 400), (50, 400), (40, 320)),
        ("image/png", png_with_alpha(1000, 10), (1000, 10), (320, 3)),
    ];
    for (mime, bytes, (width, height), thumbnail) in cases {
        let attachment = app.upload(&alice, bytes).await;
        assert_keys(&attachment, &["id", "mime", "size", "width", "height", "url", "thumbnail_url"]);
        assert_uuid_v7(&attachment["id"]);
        assert_eq!(attachment["mime"], json!(mime), "{attachment}");
        assert_eq!((attachment["width"].as_u64(), attachment["height"].as_u64()), (Some(width), Some(height)));
        // Signed URLs work without any header, as `<img src>` needs.
        let original = app.fetch(attachment["url"].as_str().unwrap(), None, None).await;
        assert_eq!(original.status, 200, "{mime}");
        assert_eq!(original.header("content-type"), mime);
        assert_eq!(original.bytes.len() as u64, attachment["size"].as_u64().unwrap());
        assert_eq!(dimensions(&original.bytes), (width as u32, height as u32), "{mime} original");
        let thumb = app.fetch(attachment["thumbnail_url"].as_str().unwrap(), None, None).await;
        assert_eq!(thumb.status, 200, "{mime} thumbnail");
        assert_eq!(dimensions(&thumb.bytes), (thumbnail.0 as u32, thumbnail.1 as u32), "{mime} thumbnail");
        // Transparency survives in the thumbnail; everything else becomes a JPEG.
        let expected = if mime == "image/png" && width == 1000 { "image/png" } else { "image/jpeg" };
        assert_eq!(thumb.header("content-type"), expected, "{mime} thumbnail");
    }
    // The first frame of an animation is its thumbnail: red, not blue.
    let gif = app.upload(&alice, animated_gif(30, 20)).await;
    let thumb = app.fetch(gif["thumbnail_url"].as_str().unwrap(), None, None).await;
    let pixel = image::load_from_memory(&thumb.bytes).unwrap().to_rgb8().get_pixel(15, 10).0;
    assert!(pixel[0] > 200 && pixel[2] < 60, "first frame (red): {pixel:?}");
}

async fn files_that_are_not_images_are_refused_whatever_they_claim(app: TestApp) {
    let alice = app.register("alice").await;
    for (what, name, bytes) in not_images() {
        let problem = app.upload_file(&alice, name, "image/png", bytes).await.expect_problem(415, None);
        assert!(problem["detail"].as_str().unwrap().contains("PNG, JPEG, GIF and WebP"), "{what}: {problem}");
    }
    // An image declared as something else is still an image.
    app.upload_file(&alice, "notes.txt", "text/plain", png(8, 8)).await.expect_status(201);
    // Not a form at all, an empty file, no `file` part.
    app.post_raw(&alice, "/uploads", Some("image/png"), png(8, 8)).await.expect_problem(415, None);
    app.upload_file(&alice, "empty.png", "image/png", vec![]).await.expect_invalid("file");
    let form = reqwest::multipart::Form::new().text("note", "no file here");
    let response = app.client.post(app.api("/uploads")).bearer_auth(&alice.access_token).multipart(form);
    let reply = Reply::read("POST /uploads without file".into(), response.send().await.unwrap()).await;
    reply.expect_invalid("file");
    // The file and anything else: one part, as documented.
    let part = reqwest::multipart::Part::bytes(png(8, 8)).file_name("a.png");
    let form = reqwest::multipart::Form::new().part("file", part).text("caption", "extra");
    let response = app.client.post(app.api("/uploads")).bearer_auth(&alice.access_token).multipart(form);
    let reply = Reply::read("POST /uploads with an extra part".into(), response.send().await.unwrap()).await;
    reply.expect_invalid("file");
    // Nobody uploads without a token.
    app.upload_file(&Anonymous, "a.png", "image/png", png(8, 8)).await.expect_problem(401, None);
}

async fn broken_and_oversized_images_are_refused_before_decoding(app: TestApp) {
    let alice = app.register("alice").await;
    let whole = png(200, 200);
    let truncated = whole[..whole.len() / 2].to_vec();
    app.upload_file(&alice, "cut.png", "image/png", truncated).await.expect_invalid("file");
    // 3.6 gigapixels claimed in 60 bytes: refused from the header, never allocated.
    let problem =
        app.upload_file(&alice, "huge.png", "image/png", png_claiming(60_000, 60_000)).await.expect_invalid("file");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("60000"), "{problem}");
    let mut garbage_jpeg = jpeg(64, 64);
    let len = garbage_jpeg.len();
    garbage_jpeg[20..len - 2].fill(0x13);
    app.upload_file(&alice, "bad.jpg", "image/jpeg", garbage_jpeg).await.expect_invalid("file");
}

async fn the_gps_position_never_leaves_the_server(app: TestApp) {
    let alice = app.register("alice").await;
    let photo = jpeg_with_gps(40, 20);
    assert!(photo.windows(GPS_MARKER.len()).any(|w| w == GPS_MARKER), "the fixture carries the marker");
    let attachment = app.upload(&alice, photo).await;
    // Orientation 6: displayed rotated, so 20 wide and 40 high.
    assert_eq!((attachment["width"].as_u64(), attachment["height"].as_u64()), (Some(20), Some(40)), "{attachment}");
    for url in [&attachment["url"], &attachment["thumbnail_url"]] {
        let served = app.fetch(url.as_str().unwrap(), None, None).await;
        assert_eq!(served.status, 200);
        assert!(!served.bytes.windows(GPS_MARKER.len()).any(|w| w == GPS_MARKER), "GPS data served at {url}");
        // No GPS IFD pointer (tag 0x8825, little-endian as written) either.
        assert!(!served.bytes.windows(4).any(|w| w == [0x25, 0x88, 0x04, 0x00]), "GPS IFD pointer at {url}");
    }
    let thumb = app.fetch(attachment["thumbnail_url"].as_str().unwrap(), None, None).await;
    assert_eq!(dimensions(&thumb.bytes), (20, 40), "the thumbnail is upright");
    assert!(!thumb.bytes.windows(4).any(|w| w == b"Exif"), "the thumbnail carries no EXIF at all");
}

async fn served_images_carry_headers_that_keep_them_inert(app: TestApp) {
    let alice = app.register("alice").await;
    let attachment = app.upload(&alice, png(16, 16)).await;
    let id = str_of(&attachment["id"]);
    let served = app.fetch(attachment["url"].as_str().unwrap(), None, None).await;
    assert_eq!(served.header("x-content-type-options"), "nosniff");
    assert!(served.header("cache-control").starts_with("private"), "{}", served.header("cache-control"));
    let csp = served.header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("sandbox"), "{csp}");
    assert_eq!(served.header("content-disposition"), format!("inline; filename=\"{id}.png\""));
    let etag = served.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "a strong ETag: {etag}");
    // Revalidation: 304 without a body for the same tag, 200 for another.
    let again = app.fetch(attachment["url"].as_str().unwrap(), None, Some(&etag)).await;
    assert_eq!(again.status, 304);
    assert!(again.bytes.is_empty());
    assert_eq!(again.header("etag"), etag);
    let other = app.fetch(attachment["url"].as_str().unwrap(), None, Some("\"something-else\"")).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.bytes, served.bytes);
    // The thumbnail has a tag of its own; with a bearer token the cache must revalidate.
    let thumb = app.fetch(&unsigned(&attachment["thumbnail_url"]), Some(&alice.access_token), None).await;
    assert_eq!(thumb.status, 200);
    assert_ne!(thumb.header("etag"), etag);
    assert_eq!(thumb.header("cache-control"), "private, no-cache");
    assert_eq!(thumb.header("content-disposition"), format!("inline; filename=\"{id}-thumbnail.jpg\""));
}

async fn a_file_over_the_limit_is_refused_while_it_streams(app: TestApp) {
    let alice = app.register("alice").await;
    let limit = app.config.uploads.max_bytes;
    // A PNG signature, so the file passes the format check, then 11 MiB more: sent chunked,
    // with no length the server could refuse it by.
    let boundary = "palaverboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n"
    );
    let mut first = head.into_bytes();
    first.extend_from_slice(&png(4, 4)[..16]);
    let chunks = std::iter::once(first).chain((0..176).map(|_| vec![0u8; 64 * 1024]));
    let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>));
    let before = app.services.uploads.bytes_received();
    let response = app
        .client
        .post(app.api("/uploads"))
        .bearer_auth(&alice.access_token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let read = app.services.uploads.bytes_received() - before;
    // The server read the limit and at most one more chunk of the body, never the rest.
    assert!(read > limit, "read {read} bytes, limit {limit}");
    assert!(read <= limit + 64 * 1024, "the server read {read} bytes of an 11 MiB body with a limit of {limit}");
    // The client may see the 413, or the connection closed mid-send; never a success.
    if let Ok(response) = response {
        let reply = Reply::read("POST /uploads (11 MiB)".into(), response).await;
        let problem = reply.expect_problem(413, Some("payload_too_large"));
        assert!(problem["detail"].as_str().unwrap().contains(&limit.to_string()), "{problem}");
    }
    // A declared length over the limit is refused before anything is read: a client that
    // asks first (`Expect: 100-continue`, as curl does for large files) never sends it.
    let before = app.services.uploads.bytes_received();
    let head = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nhost: palaver\r\nauthorization: Bearer {}\r\n\
         content-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\n\
         expect: 100-continue\r\n\r\n",
        alice.access_token,
        11 * 1024 * 1024
    );
    let answer = raw_exchange(&app, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "the body was not asked for: {answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert_eq!(app.services.uploads.bytes_received(), before);
    // Exactly at the limit is fine (a PNG padded after IEND: its trailer is dropped).
    let mut padded = png(4, 4);
    let room = limit as usize - padded.len();
    padded.extend(std::iter::repeat_n(0u8, room));
    let attachment = app.upload(&alice, padded).await;
    assert!(attachment["size"].as_u64().unwrap() < 1000, "trailing data is not served: {attachment}");
}

async fn uploads_per_minute_are_limited(app: TestApp) {
    let (alice, bob, _) = app.room_of_two().await;
    app.upload(&alice, png(8, 8)).await;
    app.upload(&alice, png(8, 8)).await;
    let reply = app.upload_file(&alice, "a.png", "image/png", png(8, 8)).await;
    reply.expect_problem(429, Some("rate_limited"));
    let wait: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Per user: bob still may.
    app.upload(&bob, png(8, 8)).await;
}

async fn bytes_per_day_are_limited(app: TestApp) {
    let alice = app.register("alice").await;
    let first = app.upload(&alice, png(8, 8)).await;
    let used = first["size"].as_u64().unwrap();
    assert!(used < 1500, "the fixture is small: {used}");
    // Over what is left of the day's 3000 bytes: refused while streaming, as a budget.
    let big = noisy_png(40, 40);
    assert!(big.len() as u64 > 3000 - used, "{} bytes", big.len());
    let reply = app.upload_file(&alice, "b.png", "image/png", big).await;
    reply.expect_problem(429, Some("rate_limited"));
    let wait: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    // The budget comes back when the first upload is a day old.
    assert!(wait > 23 * 3600 && wait <= 24 * 3600, "Retry-After {wait}");
    // What fits still goes.
    app.upload(&alice, png(2, 2)).await;
}

async fn unattached_uploads_are_swept_and_attached_ones_kept(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let loose = app.upload(&alice, png(8, 8)).await;
    let posted = app.upload(&alice, png(9, 9)).await;
    app.post_image(&alice, &room_id, &str_of(&posted["id"]), None).await.expect_status(201);
    let deleted = app.upload(&alice, png(10, 10)).await;
    let message = app.post_image(&alice, &room_id, &str_of(&deleted["id"]), None).await.expect_status(201);
    app.delete(&alice, &format!("/rooms/{room_id}/messages/{}", str_of(&message["id"]))).await.expect_status(204);

    // Not yet a minute old: nothing goes.
    assert_eq!(app.services.uploads.sweep(time::OffsetDateTime::now_utc()).await.unwrap(), 0);
    // Blobs whose row never came, as a crash between the two leaves them: one two hours
    // old (swept), one just written (it may be an upload still being stored).
    let (old, young) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    put_orphan(&app, old, 2 * 3600).await;
    put_orphan(&app, young, 0).await;
    let later = time::OffsetDateTime::now_utc() + Duration::from_secs(120);
    assert_eq!(app.services.uploads.sweep(later).await.unwrap(), 2, "the unattached upload and the old orphan");
    assert!(!orphan_exists(&app, old).await, "the old orphan blob is gone");
    assert!(orphan_exists(&app, young).await, "the young orphan blob is kept");
    let token = Some(alice.access_token.as_str());
    assert_eq!(app.fetch(&unsigned(&loose["url"]), token, None).await.status, 404);
    assert_eq!(app.fetch(loose["url"].as_str().unwrap(), None, None).await.status, 404);
    assert_eq!(app.fetch(&unsigned(&posted["url"]), Some(&bob.access_token), None).await.status, 200);
    // A deleted message keeps its upload for the uploader (and from being attached again).
    assert_eq!(app.fetch(&unsigned(&deleted["url"]), token, None).await.status, 200);
    // The swept upload cannot be attached any more.
    app.post_image(&alice, &room_id, &str_of(&loose["id"]), None).await.expect_problem(404, Some("not_found"));
}

/// A blob with no upload row, written `age_secs` ago, in the app's blob store.
async fn put_orphan(app: &TestApp, id: uuid::Uuid, age_secs: u64) {
    match &app.config.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(
                "INSERT INTO blobs (upload_id, variant, data, created_at)
                 VALUES ($1, 'original', $2, now() - make_interval(secs => $3))",
            )
            .bind(id)
            .bind(b"orphan".as_slice())
            .bind(age_secs as f64)
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        None => {
            let path = orphan_path(app, id);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"orphan").unwrap();
            let written = std::time::SystemTime::now() - Duration::from_secs(age_secs);
            std::fs::File::options().write(true).open(&path).unwrap().set_modified(written).unwrap();
        }
    }
}

async fn orphan_exists(app: &TestApp, id: uuid::Uuid) -> bool {
    match &app.config.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM blobs WHERE upload_id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            count > 0
        }
        None => orphan_path(app, id).exists(),
    }
}

/// Where the data dir's blob store keeps `id`'s original: `uploads/<last byte>/<id>.original`.
fn orphan_path(app: &TestApp, id: uuid::Uuid) -> std::path::PathBuf {
    let hex = id.simple().to_string();
    app.config.data_dir.join("uploads").join(&hex[30..]).join(format!("{id}.original"))
}

/// Sends `request` on a fresh connection and returns what the server answers before it
/// closes (or within 5 s).
async fn raw_exchange(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}
