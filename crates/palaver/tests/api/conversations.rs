//! Assistant conversations without an LLM: their CRUD works, private to their owner, and
//! what needs the model answers 503 saying so.

use serde_json::{Value, json};

use crate::helpers::*;

both_backends!(
    conversations_are_created_listed_renamed_and_deleted,
    conversations_are_private_to_their_owner,
    conversation_input_is_validated,
    replies_need_an_llm_and_say_so,
);

#[track_caller]
fn assert_conversation(c: &Value) {
    assert_keys(c, &["id", "title", "created_at", "updated_at", "total_messages", "total_tokens_used"]);
    assert_uuid_v7(&c["id"]);
    assert_utc_time(&c["created_at"]);
    assert_utc_time(&c["updated_at"]);
}

async fn conversations_are_created_listed_renamed_and_deleted(app: TestApp) {
    let alice = app.register("alice").await;
    let first = app.post(&alice, "/chat/conversations", json!({})).await.expect_status(201);
    assert_conversation(&first);
    assert_eq!(first["title"], "New conversation");
    assert_eq!((first["total_messages"].as_i64(), first["total_tokens_used"].as_i64()), (Some(0), Some(0)));
    let second = app.post(&alice, "/chat/conversations", json!({"title": "  Trip planning "})).await.expect_status(201);
    assert_eq!(second["title"], "Trip planning");
    let page = app.get(&alice, "/chat/conversations").await.expect_status(200);
    assert_eq!((page["total"].as_i64(), page["offset"].as_i64(), page["limit"].as_i64()), (Some(2), Some(0), Some(20)));
    assert_eq!(ids(&page), vec![str_of(&second["id"]), str_of(&first["id"])], "newest updated_at first");
    // Renaming moves it to the top.
    let path = format!("/chat/conversations/{}/title", str_of(&first["id"]));
    let renamed = app.patch(&alice, &path, json!({"title": "Groceries"})).await.expect_status(200);
    assert_eq!(renamed["title"], "Groceries");
    let page = app.get(&alice, "/chat/conversations?limit=1").await.expect_status(200);
    assert_eq!(ids(&page), vec![str_of(&first["id"])]);
    assert_eq!(page["total"], 2);
    let rest = app.get(&alice, "/chat/conversations?offset=1&limit=1").await.expect_status(200);
    assert_eq!(ids(&rest), vec![str_of(&second["id"])]);
    // Messages: none yet.
    let messages = app.get(&alice, &format!("/chat/conversations/{}/messages", str_of(&first["id"]))).await;
    let messages = messages.expect_status(200);
    assert_eq!((messages["items"].clone(), messages["total"].clone()), (json!([]), json!(0)));
    // Deleted: 404 everywhere afterwards.
    let id = str_of(&first["id"]);
    app.delete(&alice, &format!("/chat/conversations/{id}")).await.expect_status(204);
    app.delete(&alice, &format!("/chat/conversations/{id}")).await.expect_problem(404, Some("not_found"));
    app.get(&alice, &format!("/chat/conversations/{id}/messages")).await.expect_problem(404, None);
    app.patch(&alice, &format!("/chat/conversations/{id}/title"), json!({"title": "x"}))
        .await
        .expect_problem(404, None);
    let page = app.get(&alice, "/chat/conversations").await.expect_status(200);
    assert_eq!(page["total"], 1);
}

async fn conversations_are_private_to_their_owner(app: TestApp) {
    let alice = app.register("alice").await;
    let mallory = app.register("mallory").await;
    let id =
        str_of(&app.post(&alice, "/chat/conversations", json!({"title": "secret"})).await.expect_status(201)["id"]);
    let page = app.get(&mallory, "/chat/conversations").await.expect_status(200);
    assert_eq!(page["total"], 0);
    app.get(&mallory, &format!("/chat/conversations/{id}/messages")).await.expect_problem(404, Some("not_found"));
    app.patch(&mallory, &format!("/chat/conversations/{id}/title"), json!({"title": "mine"}))
        .await
        .expect_problem(404, None);
    app.delete(&mallory, &format!("/chat/conversations/{id}")).await.expect_problem(404, None);
    app.post(&mallory, &format!("/chat/conversations/{id}/messages"), json!({"message": "hi"}))
        .await
        .expect_problem(404, None);
    app.post(&mallory, &format!("/chat/conversations/{id}/cancel"), json!({})).await.expect_problem(404, None);
    let stream = format!("/chat/conversations/{id}/messages/{}/stream", uuid::Uuid::now_v7());
    app.get(&mallory, &stream).await.expect_problem(404, None);
    // Untouched for alice.
    let page = app.get(&alice, "/chat/conversations").await.expect_status(200);
    assert_eq!(page["items"][0]["title"], "secret");
    app.get(&Anonymous, "/chat/conversations").await.expect_problem(401, None);
}

async fn conversation_input_is_validated(app: TestApp) {
    let alice = app.register("alice").await;
    app.post(&alice, "/chat/conversations", json!({"title": "t".repeat(501)})).await.expect_invalid("title");
    app.post(&alice, "/chat/conversations", json!({"title": "a\u{0}b"})).await.expect_invalid("title");
    let ok = app.post(&alice, "/chat/conversations", json!({"title": "t".repeat(500)})).await.expect_status(201);
    let id = str_of(&ok["id"]);
    app.patch(&alice, &format!("/chat/conversations/{id}/title"), json!({"title": "   "}))
        .await
        .expect_invalid("title");
    for query in ["?limit=0", "?limit=101", "?offset=-1"] {
        app.get(&alice, &format!("/chat/conversations{query}")).await.expect_status_in(&[400, 422]);
    }
    app.get(&alice, "/chat/conversations?limit=100").await.expect_status(200);
}

async fn replies_need_an_llm_and_say_so(app: TestApp) {
    let alice = app.register("alice").await;
    let id = str_of(&app.post(&alice, "/chat/conversations", json!({})).await.expect_status(201)["id"]);
    for (method, path) in [
        ("POST", format!("/chat/conversations/{id}/messages")),
        ("POST", format!("/chat/conversations/{id}/stream")),
        ("GET", format!("/chat/conversations/{id}/stream?message=hi")),
        ("GET", format!("/chat/conversations/{id}/messages/{}/stream", uuid::Uuid::now_v7())),
        ("POST", format!("/chat/conversations/{id}/cancel")),
    ] {
        let reply = if method == "GET" {
            app.get(&alice, &path).await
        } else {
            app.post(&alice, &path, json!({"message": "hello"})).await
        };
        let problem = reply.expect_problem(503, Some("unavailable"));
        assert!(problem["detail"].as_str().unwrap().contains("PALAVER_LLM_BASE_URL"), "{path}: {problem}");
        assert!(reply.headers.contains_key("retry-after"));
    }
    // The WebSocket says the same.
    let mut ws = app.ws(&alice).await;
    let refused = ws.request(json!({"type": "assistant.send", "conversation_id": id, "message": "hello"})).await;
    assert_eq!((type_of(&refused), refused["code"].as_str()), ("error", Some("unavailable")), "{refused}");
    ws.assert_alive().await;
    // Nothing was stored.
    let messages = app.get(&alice, &format!("/chat/conversations/{id}/messages")).await.expect_status(200);
    assert_eq!(messages["total"], 0);
}
