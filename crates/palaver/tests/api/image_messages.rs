//! Images in rooms: posting an upload as a message over REST and WebSocket, who may see it
//! (uploader, members, nobody else; signed URLs and their tampering and expiry), and what
//! deleting the message hides.

use palaver::domain::UploadId;
use palaver::uploads::blobs::Variant;
use palaver::uploads::signed::UrlSigner;
use serde_json::{Value, json};

use crate::helpers::*;

both_backends!(
    an_image_message_reaches_every_member_with_fresh_urls,
    only_the_uploader_and_members_see_an_upload,
    signed_urls_refuse_tampering_and_expiry,
    an_upload_is_attached_once_by_its_uploader_only,
    deleting_the_message_hides_the_image_from_all_but_the_uploader,
    images_are_sent_and_replayed_over_the_websocket,
);

#[track_caller]
fn assert_attachment(message: &Value, upload: &Value) {
    assert_message(message);
    assert_eq!(message["kind"], "image", "{message}");
    let attachment = &message["attachment"];
    for key in ["id", "mime", "size", "width", "height"] {
        assert_eq!(attachment[key], upload[key], "attachment {key}: {message}");
    }
    for key in ["url", "thumbnail_url"] {
        assert!(attachment[key].as_str().is_some_and(|u| u.contains("signature=")), "signed {key}: {message}");
    }
}

async fn an_image_message_reaches_every_member_with_fresh_urls(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut bob_ws = app.ws(&bob).await;
    bob_ws.subscribe(&room_id, None).await;
    let upload = app.upload(&alice, jpeg(800, 600)).await;
    let message = app.post_image(&alice, &room_id, &str_of(&upload["id"]), None).await.expect_status(201);
    assert_attachment(&message, &upload);
    assert_eq!(message["content"], "", "no caption: {message}");
    let live = bob_ws.next_of_type("message").await;
    assert_attachment(&live["message"], &upload);
    // Bob's browser loads both from the URLs alone.
    for key in ["url", "thumbnail_url"] {
        let served = app.fetch(live["message"]["attachment"][key].as_str().unwrap(), None, None).await;
        assert_eq!(served.status, 200, "{key}");
    }
    let thumb = app.fetch(live["message"]["attachment"]["thumbnail_url"].as_str().unwrap(), None, None).await;
    assert_eq!(dimensions(&thumb.bytes), (320, 240));
    // With a caption, and in history.
    let second = app.upload(&alice, png(10, 10)).await;
    let captioned =
        app.post_image(&alice, &room_id, &str_of(&second["id"]), Some("  the view  ")).await.expect_status(201);
    assert_eq!(captioned["content"], "the view");
    // A blank caption is no caption (a form's empty text box), not an error.
    let third = app.upload(&alice, png(11, 11)).await;
    let blank = app.post_image(&alice, &room_id, &str_of(&third["id"]), Some(" \u{200b} ")).await.expect_status(201);
    assert_eq!(blank["content"], "");
    let history = items(&app.history(&bob, &room_id, "").await);
    assert_eq!(history.len(), 3);
    assert_attachment(&history[0], &upload);
    assert_attachment(&history[1], &second);
    assert_attachment(&history[2], &third);
    // A text-only message has no attachment; an empty message with no image is refused.
    let text = app.post_message(&alice, &room_id, "words").await;
    assert_eq!((text["kind"].clone(), text["attachment"].clone()), (json!("text"), Value::Null));
    let path = format!("/rooms/{room_id}/messages");
    app.post(&alice, &path, json!({"content": "   "})).await.expect_invalid("content");
    app.post(&alice, &path, json!({})).await.expect_invalid("content");
}

async fn only_the_uploader_and_members_see_an_upload(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let carol = app.register("carol").await;
    let upload = app.upload(&alice, png(12, 12)).await;
    let (original, thumbnail) = (unsigned(&upload["url"]), unsigned(&upload["thumbnail_url"]));
    // Before it is posted: the uploader only.
    for path in [&original, &thumbnail] {
        assert_eq!(app.fetch(path, Some(&alice.access_token), None).await.status, 200);
        assert_eq!(app.fetch(path, Some(&bob.access_token), None).await.status, 404);
    }
    app.post_image(&alice, &room_id, &str_of(&upload["id"]), None).await.expect_status(201);
    for path in [&original, &thumbnail] {
        assert_eq!(app.fetch(path, Some(&alice.access_token), None).await.status, 200, "uploader");
        assert_eq!(app.fetch(path, Some(&bob.access_token), None).await.status, 200, "member");
        assert_eq!(app.fetch(path, Some(&carol.access_token), None).await.status, 404, "non-member");
        let anonymous = app.fetch(path, None, None).await;
        assert_eq!(anonymous.status, 401, "no token, no signature");
        assert_eq!(app.fetch(path, Some("not-a-token"), None).await.status, 401);
    }
    // An id that names nothing, and one that is not an id.
    let missing = format!("/api/v1/uploads/{}", uuid::Uuid::now_v7());
    assert_eq!(app.fetch(&missing, Some(&alice.access_token), None).await.status, 404);
    assert_eq!(app.fetch("/api/v1/uploads/not-a-uuid", Some(&alice.access_token), None).await.status, 404);
    // Bob leaves: no longer a member, no longer his to see.
    app.post(&bob, &format!("/rooms/{room_id}/leave"), json!({})).await.expect_status(204);
    assert_eq!(app.fetch(&original, Some(&bob.access_token), None).await.status, 404);
}

async fn signed_urls_refuse_tampering_and_expiry(app: TestApp) {
    let alice = app.register("alice").await;
    let upload = app.upload(&alice, png(12, 12)).await;
    let url = str_of(&upload["url"]);
    assert_eq!(app.fetch(&url, None, None).await.status, 200);
    let (path, query) = url.split_once('?').unwrap();
    let signature = query.split("signature=").nth(1).unwrap();
    let expires: i64 = query.split("expires=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
    let tampered = [
        format!("{path}?expires={}&signature={signature}", expires + 3600),
        format!("{path}?expires={expires}&signature={}", signature.replacen(&signature[..2], "AA", 1)),
        format!("{path}?expires={expires}&signature=not-base64!"),
        // The original's signature on the thumbnail.
        format!("{path}/thumbnail?expires={expires}&signature={signature}"),
        format!("/api/v1/uploads/{}?expires={expires}&signature={signature}", uuid::Uuid::now_v7()),
    ];
    for url in &tampered {
        let fetched = app.fetch(url, None, None).await;
        assert!(fetched.status == 403 || fetched.status == 404, "{url} answered {}", fetched.status);
        assert_ne!(fetched.status, 200);
    }
    assert_eq!(app.fetch(&tampered[0], None, None).await.status, 403);
    // A URL signed with the server's own secret two hours ago has expired.
    let signer = UrlSigner::new(JWT_SECRET.as_bytes(), app.config.uploads.url_ttl_secs);
    let id = UploadId::from_uuid(str_of(&upload["id"]).parse().unwrap());
    let old = signer.url(id, Variant::Original, time::OffsetDateTime::now_utc() - time::Duration::hours(3));
    let expired = app.fetch(&old, None, None).await;
    assert_eq!(expired.status, 403);
    assert!(String::from_utf8_lossy(&expired.bytes).contains("expired"));
    // The same signer, now: accepted (the test signs exactly as the server does).
    let fresh = signer.url(id, Variant::Original, time::OffsetDateTime::now_utc());
    assert_eq!(app.fetch(&fresh, None, None).await.status, 200);
    // Signed URLs expire about an hour from now.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(expires >= now + 3500 && expires <= now + 3600 + 901, "expires {expires}, now {now}");
}

async fn an_upload_is_attached_once_by_its_uploader_only(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let upload = app.upload(&alice, png(12, 12)).await;
    let id = str_of(&upload["id"]);
    // Not bob's to attach, and it looks just like a missing one.
    app.post_image(&bob, &room_id, &id, None).await.expect_problem(404, Some("not_found"));
    let missing = uuid::Uuid::now_v7().to_string();
    app.post_image(&alice, &room_id, &missing, None).await.expect_problem(404, Some("not_found"));
    let path = format!("/rooms/{room_id}/messages");
    let body = json!({"upload_id": id, "client_msg_id": "pic-1"});
    let first = app.post(&alice, &path, body.clone()).await.expect_status(201);
    // A retry of the same send gets the same message, not a conflict.
    let retry = app.post(&alice, &path, body).await.expect_status(201);
    assert_eq!(retry["id"], first["id"]);
    // A second message with the same upload is refused; so is posting it in another room.
    app.post_image(&alice, &room_id, &id, None).await.expect_problem(409, Some("upload_attached"));
    let other = id_of(&app.create_room(&alice, "elsewhere", "public").await);
    app.post_image(&alice, &other, &id, None).await.expect_problem(409, Some("upload_attached"));
    // Two sends racing for one upload: exactly one wins.
    let fresh = str_of(&app.upload(&alice, png(13, 13)).await["id"]);
    let (a, b) =
        tokio::join!(app.post_image(&alice, &room_id, &fresh, None), app.post_image(&alice, &other, &fresh, None));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.json()["code"], "upload_attached", "{}", refused.text);
    // A non-uuid upload id is a validation error like any other field.
    app.post(&alice, &path, json!({"upload_id": "nope"})).await.expect_status_in(&[400, 422]);
}

async fn deleting_the_message_hides_the_image_from_all_but_the_uploader(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let upload = app.upload(&alice, png(12, 12)).await;
    let message = app.post_image(&alice, &room_id, &str_of(&upload["id"]), Some("oops")).await.expect_status(201);
    let signed = str_of(&message["attachment"]["url"]);
    assert_eq!(app.fetch(&signed, None, None).await.status, 200);
    app.delete(&alice, &format!("/rooms/{room_id}/messages/{}", str_of(&message["id"]))).await.expect_status(204);
    let history = items(&app.history(&bob, &room_id, "").await);
    assert_eq!(history[0]["deleted"], true);
    assert_eq!(history[0]["attachment"], Value::Null, "{}", history[0]);
    assert_eq!(history[0]["content"], "");
    // Gone for bob, and for anyone holding a signed URL; still there for alice.
    assert_eq!(app.fetch(&unsigned(&upload["url"]), Some(&bob.access_token), None).await.status, 404);
    assert_eq!(app.fetch(&signed, None, None).await.status, 404);
    assert_eq!(app.fetch(&unsigned(&upload["url"]), Some(&alice.access_token), None).await.status, 200);
    // And it cannot come back in another message.
    app.post_image(&alice, &room_id, &str_of(&upload["id"]), None).await.expect_problem(409, Some("upload_attached"));
}

async fn images_are_sent_and_replayed_over_the_websocket(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let upload = app.upload(&alice, png(30, 30)).await;
    let mut alice_ws = app.ws(&alice).await;
    let mut bob_ws = app.ws(&bob).await;
    alice_ws.subscribe(&room_id, None).await;
    bob_ws.subscribe(&room_id, None).await;
    let ack = alice_ws.request(json!({"type": "send", "room_id": room_id, "upload_id": upload["id"]})).await;
    assert_eq!(type_of(&ack), "ack", "{ack}");
    assert_attachment(&ack["message"], &upload);
    let live = bob_ws.next_of_type("message").await;
    assert_attachment(&live["message"], &upload);
    // Refusals come back as error frames, the socket stays up.
    let again = alice_ws.request(json!({"type": "send", "room_id": room_id, "upload_id": upload["id"]})).await;
    assert_eq!((type_of(&again), again["code"].as_str()), ("error", Some("upload_attached")), "{again}");
    let stranger = uuid::Uuid::now_v7();
    let refused = alice_ws.request(json!({"type": "send", "room_id": room_id, "upload_id": stranger})).await;
    assert_eq!((type_of(&refused), refused["code"].as_str()), ("error", Some("not_found")), "{refused}");
    alice_ws.assert_alive().await;
    // A resume replays the image with URLs that work.
    let mut late = app.ws(&bob).await;
    late.subscribe(&room_id, Some(0)).await;
    let replayed = late.next_of_type("message").await;
    assert_attachment(&replayed["message"], &upload);
    let served = app.fetch(replayed["message"]["attachment"]["thumbnail_url"].as_str().unwrap(), None, None).await;
    assert_eq!(served.status, 200);
}
