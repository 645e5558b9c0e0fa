//! Roles, kinds and visibility are read strictly from the database: a value the server
//! does not know (a row written by hand, or by a newer version) fails the request with a
//! 500, it is never read as some default such as `member` or `text`.

use serde_json::json;

use crate::helpers::{TestApp, id_of, items, write_behind};

both_backends!(an_unknown_role_is_an_error_not_a_member, unknown_kinds_and_visibility_are_errors);

async fn an_unknown_role_is_an_error_not_a_member(app: TestApp) {
    let (alice, bob, room_id) = app.room_of_two().await;
    write_behind(&app, "UPDATE room_members SET role = 'superuser' WHERE user_id = $1", &bob.id).await;

    // Every read of bob's membership fails, whichever query reads it.
    app.get(&bob, &format!("/rooms/{room_id}")).await.expect_problem(500, Some("internal"));
    let post = app.post(&bob, &format!("/rooms/{room_id}/messages"), json!({"content": "hi"})).await;
    post.expect_problem(500, Some("internal"));
    app.get(&alice, &format!("/rooms/{room_id}/members")).await.expect_problem(500, Some("internal"));
    let remove = app.delete(&alice, &format!("/rooms/{room_id}/members/{}", bob.id)).await;
    remove.expect_problem(500, Some("internal"));

    // The rows that still decode are served: the failure is that one value, not the room.
    assert_eq!(app.room(&alice, &room_id).await["my_role"], "owner");
    assert_eq!(app.last_seq(&alice, &room_id).await, 0, "bob's post was not stored");
}

async fn unknown_kinds_and_visibility_are_errors(app: TestApp) {
    let (alice, bob, general) = app.room_of_two().await;
    let channel = id_of(&app.create_room(&alice, "channel", "public").await);
    let unlisted = id_of(&app.create_room(&alice, "unlisted", "private").await);
    write_behind(&app, "UPDATE rooms SET kind = 'channel' WHERE id = $1", &channel).await;
    write_behind(&app, "UPDATE rooms SET visibility = 'unlisted' WHERE id = $1", &unlisted).await;
    app.get(&alice, &format!("/rooms/{channel}")).await.expect_problem(500, Some("internal"));
    app.get(&alice, &format!("/rooms/{unlisted}")).await.expect_problem(500, Some("internal"));

    let message = app.post_message(&alice, &general, "look").await;
    write_behind(&app, "UPDATE messages SET kind = 'video' WHERE id = $1", &id_of(&message)).await;
    app.get(&bob, &format!("/rooms/{general}/messages")).await.expect_problem(500, Some("internal"));

    let private = id_of(&app.create_room(&alice, "private", "private").await);
    app.add_member(&alice, &private, &bob).await;
    assert_eq!(items(&app.notifications(&bob, "").await).len(), 1, "bob was invited");
    write_behind(&app, "UPDATE notifications SET kind = 'poke' WHERE user_id = $1", &bob.id).await;
    app.get(&bob, "/notifications").await.expect_problem(500, Some("internal"));
}
