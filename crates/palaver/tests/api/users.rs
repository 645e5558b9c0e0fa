//! `GET /users/me` and `GET /users/{id}`.

use crate::helpers::{TestApp, assert_user};

both_backends!(me_includes_the_email, another_user_shows_public_fields_only, unknown_users_are_not_found,);

async fn me_includes_the_email(app: TestApp) {
    let alice = app.register("alice").await;
    let me = app.get(&alice, "/users/me").await.expect_status(200);
    assert_user(&me, true);
    assert_eq!(me["id"], alice.id);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
}

async fn another_user_shows_public_fields_only(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let seen = app.get(&alice, &format!("/users/{}", bob.id)).await.expect_status(200);
    assert_user(&seen, false);
    assert_eq!(seen["id"], bob.id);
    assert_eq!(seen["username"], "bob");
    assert!(!seen.to_string().contains("bob@example.com"), "no email anywhere: {seen}");
}

async fn unknown_users_are_not_found(app: TestApp) {
    let alice = app.register("alice").await;
    let unknown = uuid::Uuid::now_v7();
    app.get(&alice, &format!("/users/{unknown}")).await.expect_problem(404, Some("not_found"));
    app.get(&alice, "/users/not-a-uuid").await.expect_problem(404, Some("not_found"));
}
