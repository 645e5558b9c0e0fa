//! Search (contract v1.1): whole words, case- and accent-insensitively, phrases, prefixes,
//! exclusions, Chinese and Japanese by any run of 2 or more characters; only rooms the
//! caller is in now, never deleted messages, edits by their current text; filters, both
//! sorts, paging with no duplicate and no miss; bad queries are 422 with the reason. One
//! suite on both backends, with exact expectations: both must find the same messages.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, id_of, items, png, query_value, type_of, write_behind};

both_backends!(
    words_match_whole_words_without_case_or_accents,
    phrases_prefixes_and_exclusions,
    chinese_and_japanese_match_any_run_of_two_characters,
    only_rooms_the_caller_is_in_now_and_never_deleted_messages,
    an_edited_message_is_found_by_its_current_text_only,
    filters_narrow_the_hits,
    pages_have_no_duplicate_and_no_miss_in_either_order,
    a_message_is_findable_as_soon_as_its_ack_is_sent,
    bad_queries_are_refused_with_the_reason,
    messages_from_before_search_are_indexed_when_the_server_starts,
);

async fn search(app: &TestApp, user: &TestUser, query: &str) -> Value {
    app.get(user, &format!("/search?{query}")).await.expect_status(200)
}

/// The contents of the hits for `q`, in order.
async fn found(app: &TestApp, user: &TestUser, q: &str) -> Vec<String> {
    let page = search(app, user, &format!("q={}", query_value(q))).await;
    items(&page).iter().map(|hit| hit["message"]["content"].as_str().unwrap_or("").to_owned()).collect()
}

/// The snippet with its matches in brackets.
fn marked(hit: &Value) -> String {
    hit["snippet"]
        .as_array()
        .expect("a snippet")
        .iter()
        .map(|s| {
            let text = s["text"].as_str().unwrap_or("");
            if s["match"] == true { format!("[{text}]") } else { text.to_owned() }
        })
        .collect()
}

async fn post_all(app: &TestApp, user: &TestUser, room_id: &str, contents: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for content in contents {
        ids.push(id_of(&app.post_message(user, room_id, content).await));
    }
    ids
}

async fn words_match_whole_words_without_case_or_accents(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    post_all(&app, &alice, &room_id, &["Le café est prêt", "CAFE au lait?", "the cafeteria is closed", "Straße"]).await;

    assert_eq!(found(&app, &bob, "cafe").await, vec!["CAFE au lait?", "Le café est prêt"], "newest first, whole words");
    assert_eq!(found(&app, &bob, "CAFÉ").await, found(&app, &bob, "café").await);
    assert_eq!(found(&app, &bob, "cafe lait").await, vec!["CAFE au lait?"], "every word must match");
    assert_eq!(found(&app, &bob, "lait cafe").await, vec!["CAFE au lait?"], "in any order");
    assert_eq!(found(&app, &bob, "PRET").await, vec!["Le café est prêt"]);
    assert_eq!(found(&app, &bob, "straße").await, vec!["Straße"]);
    assert!(found(&app, &bob, "caf").await.is_empty(), "a part of a word is not a word");

    let page = search(&app, &bob, "q=cafe").await;
    let hit = &items(&page)[1];
    assert_eq!(marked(hit), "Le [café] est prêt");
    assert_eq!(hit["room"], json!({"id": room_id, "kind": "room", "name": "general"}));
    assert_eq!(hit["message"]["author"]["username"], "alice");
    assert!(hit["message"]["reactions"].is_array(), "a whole Message: {hit}");
    assert_eq!(page["next_cursor"], Value::Null);
}

async fn phrases_prefixes_and_exclusions(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    post_all(
        &app,
        &alice,
        &room_id,
        &[
            "the release notes are ready",
            "notes on the release",
            "deploying on friday",
            "deployment done, release ready",
            "send me an e-mail",
        ],
    )
    .await;
    assert_eq!(found(&app, &bob, "\"release notes\"").await, vec!["the release notes are ready"]);
    assert_eq!(found(&app, &bob, "deplo*").await, vec!["deployment done, release ready", "deploying on friday"]);
    assert_eq!(found(&app, &bob, "release -notes").await, vec!["deployment done, release ready"]);
    assert_eq!(
        found(&app, &bob, "release -\"release notes\"").await,
        vec!["deployment done, release ready", "notes on the release"]
    );
    assert_eq!(found(&app, &bob, "e-mail").await, vec!["send me an e-mail"], "a hyphenated word is a phrase");
    assert_eq!(found(&app, &bob, "\"notes are\" rea*").await, vec!["the release notes are ready"]);
    let page = search(&app, &bob, &format!("q={}", query_value("\"release notes\" read*"))).await;
    assert_eq!(marked(&items(&page)[0]), "the [release notes] are [ready]");
}

async fn chinese_and_japanese_match_any_run_of_two_characters(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    post_all(&app, &alice, &room_id, &["我们用中文搜索消息", "東京タワーへ行く", "英文 and 中文 mixed"]).await;
    assert_eq!(found(&app, &bob, "中文").await, vec!["英文 and 中文 mixed", "我们用中文搜索消息"]);
    assert_eq!(found(&app, &bob, "搜索消息").await, vec!["我们用中文搜索消息"]);
    assert_eq!(found(&app, &bob, "文搜").await, vec!["我们用中文搜索消息"], "any run, not only words");
    assert_eq!(found(&app, &bob, "タワー").await, vec!["東京タワーへ行く"]);
    assert!(found(&app, &bob, "中搜").await.is_empty(), "not a run of the text");
    let page = search(&app, &bob, &format!("q={}", query_value("中文搜索"))).await;
    assert_eq!(marked(&items(&page)[0]), "我们用[中文搜索]消息");
}

async fn only_rooms_the_caller_is_in_now_and_never_deleted_messages(app: TestApp) {
    let (alice, bob, general) = app.room_of_two().await;
    let carol = app.register("carol").await;
    let secret = id_of(&app.create_room(&carol, "secret", "private").await);
    let open = id_of(&app.create_room(&carol, "open", "public").await);
    app.post_message(&carol, &secret, "needle in the private room").await;
    app.post_message(&carol, &open, "needle in a room bob never joined").await;
    let mine = app.post_message(&alice, &general, "needle in general").await;
    let gone = app.post_message(&alice, &general, "needle soon deleted").await;
    app.delete(&alice, &format!("/rooms/{general}/messages/{}", id_of(&gone))).await.expect_status(204);
    // A reply is found like any message.
    app.post_reply(&bob, &general, &id_of(&mine), "a needle in the thread").await;

    assert_eq!(found(&app, &bob, "needle").await, vec!["a needle in the thread", "needle in general"]);
    assert_eq!(found(&app, &carol, "needle").await.len(), 2, "carol's rooms only");
    app.post(&bob, &format!("/rooms/{general}/leave"), json!({})).await.expect_status(204);
    assert!(found(&app, &bob, "needle").await.is_empty(), "not once he left");
    // A room the caller is not in, asked for by id: nothing, not an error.
    let page = search(&app, &alice, &format!("q=needle&room_id={secret}")).await;
    assert!(items(&page).is_empty());
}

async fn an_edited_message_is_found_by_its_current_text_only(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let id = id_of(&app.post_message(&alice, &room_id, "meeting on monday").await);
    app.patch(&alice, &format!("/rooms/{room_id}/messages/{id}"), json!({"content": "meeting on tuesday"}))
        .await
        .expect_status(200);
    assert!(found(&app, &bob, "monday").await.is_empty());
    assert_eq!(found(&app, &bob, "tuesday").await, vec!["meeting on tuesday"]);
}

async fn filters_narrow_the_hits(app: TestApp) {
    let (alice, bob, general) = app.room_of_two().await;
    let other = id_of(&app.create_room(&bob, "other", "public").await);
    app.join(&alice, &other).await;
    let root = id_of(&app.post_message(&alice, &general, "plan the launch").await);
    app.post_reply(&bob, &general, &root, "launch date is set").await;
    app.post_message(&bob, &other, "launch party").await;
    let upload = app.upload(&alice, png(8, 8)).await;
    app.post_image(&alice, &general, &id_of(&upload), Some("launch poster")).await.expect_status(201);

    let contents = |page: &Value| -> Vec<String> {
        items(page).iter().map(|h| h["message"]["content"].as_str().unwrap_or("").to_owned()).collect()
    };
    let page = search(&app, &alice, &format!("q=launch&room_id={other}")).await;
    assert_eq!(contents(&page), vec!["launch party"]);
    let page = search(&app, &alice, &format!("q=launch&author_id={}", bob.id)).await;
    assert_eq!(contents(&page), vec!["launch party", "launch date is set"]);
    let page = search(&app, &alice, &format!("q=launch&thread_root_id={root}")).await;
    assert_eq!(contents(&page), vec!["launch date is set", "plan the launch"]);
    let page = search(&app, &alice, "q=launch&has=image").await;
    assert_eq!(contents(&page), vec!["launch poster"]);
    assert!(items(&page)[0]["message"]["attachment"]["url"].is_string());

    let all = search(&app, &alice, "q=launch").await;
    assert_eq!(items(&all).len(), 4);
    let times: Vec<String> =
        items(&all).iter().map(|h| h["message"]["created_at"].as_str().unwrap_or("").to_owned()).collect();
    // Newest first: the second newest and older, then the two newest.
    let page = search(&app, &alice, &format!("q=launch&until={}", query_value(&times[1]))).await;
    assert_eq!(items(&page).len(), 3, "until is inclusive");
    let page = search(&app, &alice, &format!("q=launch&since={}", query_value(&times[1]))).await;
    assert_eq!(items(&page).len(), 2, "since is inclusive");
    let page = search(&app, &alice, "q=launch&since=2999-01-01T00:00:00Z").await;
    assert!(items(&page).is_empty());
}

async fn pages_have_no_duplicate_and_no_miss_in_either_order(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut posted = Vec::new();
    for n in 0..25 {
        // Lengths vary, so relevance (the densest first) orders them differently from time.
        let content = format!("needle {}", "hay ".repeat(n % 7));
        app.post_message(&alice, &room_id, &content).await;
        posted.push(content.trim().to_owned());
    }
    for sort in ["recent", "relevance"] {
        let mut seen: Vec<String> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut query = format!("q=needle&limit=10&sort={sort}");
            if let Some(c) = &cursor {
                query.push_str(&format!("&cursor={}", query_value(c)));
            }
            let page = search(&app, &bob, &query).await;
            pages += 1;
            for hit in items(&page) {
                ids.push(id_of(&hit["message"]));
                seen.push(hit["message"]["content"].as_str().unwrap_or("").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            // Posted while paging: newer than the cursor, so not in a `recent` listing; by
            // relevance it may sort after the cursor and show up, once.
            if pages == 1 {
                app.post_message(&alice, &room_id, "needle posted meanwhile").await;
            }
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{sort}: no duplicate");
        for content in &posted {
            assert!(seen.contains(content), "{sort}: no miss ({content:?})");
        }
        if sort == "recent" {
            assert_eq!(pages, 3);
            let mut expected = posted.clone();
            expected.reverse();
            assert_eq!(seen, expected);
        } else {
            let lengths: Vec<usize> = seen.iter().map(|s| s.trim().len()).collect();
            assert!(lengths.windows(2).all(|w| w[0] <= w[1]), "densest first: {seen:?}");
        }
    }
    app.get(&bob, "/search?q=needle&sort=relevance&cursor=r5").await.expect_invalid("cursor");
}

async fn a_message_is_findable_as_soon_as_its_ack_is_sent(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let mut ws = app.ws(&alice).await;
    for n in 0..5 {
        let word = format!("fresh{n}");
        let ack = ws.request(json!({"type": "send", "room_id": room_id, "content": format!("a {word} word")})).await;
        assert_eq!(type_of(&ack), "ack", "{ack}");
        assert_eq!(found(&app, &bob, &word).await.len(), 1, "{word} right after its ack");
    }
}

async fn bad_queries_are_refused_with_the_reason(app: TestApp) {
    let (alice, _bob, _room_id) = app.room_of_two().await;
    for q in ["\"unclosed", "-", "*", "-only -exclusions", "!!!", "a*b", "", "   "] {
        let reply = app.get(&alice, &format!("/search?q={}", query_value(q))).await;
        let problem = reply.expect_invalid("q");
        let reason = problem["errors"][0]["message"].as_str().unwrap_or("");
        assert!(!reason.is_empty(), "{q:?}: {problem}");
        assert!(!reason.to_lowercase().contains("fts") && !reason.contains("syntax error"), "{q:?}: {reason}");
    }
    app.get(&alice, "/search").await.expect_invalid("q");
    app.get(&alice, &format!("/search?q={}", "a".repeat(257))).await.expect_invalid("q");
    app.get(&alice, "/search?q=a%00b").await.expect_invalid("q");
    app.get(&alice, "/search?q=x&sort=best").await.expect_invalid("sort");
    app.get(&alice, "/search?q=x&has=video").await.expect_invalid("has");
    app.get(&alice, "/search?q=x&since=yesterday").await.expect_invalid("since");
    app.get(&alice, "/search?q=x&limit=0").await.expect_invalid("limit");
    app.get(&alice, "/search?q=x&limit=101").await.expect_invalid("limit");
    app.get(&alice, "/search?q=x&cursor=nope").await.expect_invalid("cursor");
    app.get(&alice, "/search?q=x&room_id=not-a-uuid").await.expect_status_in(&[400, 422]);
    // What FTS engines read as syntax is only words here.
    for q in ["NEAR(a b)", "a OR b", "a AND NOT b", "col:value", "a & b | !c", "'quoted'"] {
        app.get(&alice, &format!("/search?q={}", query_value(q))).await.expect_status(200);
    }
}

async fn messages_from_before_search_are_indexed_when_the_server_starts(mut app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    let ids = post_all(&app, &alice, &room_id, &["an old message", "another old one"]).await;
    // As rows written before search existed: not indexed.
    for id in &ids {
        write_behind(&app, "UPDATE messages SET search_text = NULL WHERE id = $1", id).await;
    }
    assert!(found(&app, &bob, "old").await.is_empty(), "not indexed");
    app.restart().await;
    assert_eq!(found(&app, &bob, "old").await, vec!["another old one", "an old message"]);
    assert_eq!(found(&app, &bob, "another").await, vec!["another old one"]);
}
