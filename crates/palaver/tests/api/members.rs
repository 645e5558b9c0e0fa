//! Members: listing, adding, roles (`PATCH`), removal (`DELETE`) and the owner handover
//! when the owner leaves.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestUser, assert_keys, assert_user, assert_utc_time, id_of};

both_backends!(
    members_are_listed_with_role_and_read_marker,
    owner_adds_members,
    re_adding_a_member_answers_200_and_changes_nothing,
    only_the_owner_changes_roles,
    owner_and_admins_remove_members,
    admins_manage_the_room_but_cannot_delete_it,
    leaving_owner_hands_over_to_the_earliest_admin,
    leaving_owner_hands_over_to_the_earliest_member,
);

async fn set_role(app: &TestApp, actor: &TestUser, room_id: &str, user: &TestUser, role: &str) -> Reply {
    let path = format!("/rooms/{room_id}/members/{}", user.id);
    app.patch(actor, &path, json!({"role": role})).await
}

async fn remove(app: &TestApp, actor: &TestUser, room_id: &str, user: &TestUser) -> Reply {
    app.delete(actor, &format!("/rooms/{room_id}/members/{}", user.id)).await
}

/// The role of each user, in the members list as `viewer` sees it.
async fn role_of(app: &TestApp, viewer: &TestUser, room_id: &str, user: &TestUser) -> Option<String> {
    let members = app.members(viewer, room_id).await;
    members.iter().find(|m| m["user"]["id"] == user.id).map(|m| m["role"].as_str().unwrap().to_owned())
}

#[track_caller]
fn assert_member(member: &Value, user: &TestUser, role: &str) {
    assert_keys(member, &["user", "role", "joined_at", "last_read_seq"]);
    assert_user(&member["user"], false);
    assert_eq!(member["user"]["id"], user.id);
    assert_eq!(member["user"]["username"], user.username);
    assert_eq!(member["role"], role);
    assert_utc_time(&member["joined_at"]);
    assert!(member["last_read_seq"].is_u64(), "{member}");
}

async fn members_are_listed_with_role_and_read_marker(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;

    for viewer in [&alice, &bob] {
        let members = app.members(viewer, &room_id).await;
        assert_eq!(members.len(), 2, "{members:?}");
        let find = |user: &TestUser| members.iter().find(|m| m["user"]["id"] == user.id).cloned();
        assert_member(&find(&alice).expect("alice is listed"), &alice, "owner");
        assert_member(&find(&bob).expect("bob is listed"), &bob, "member");
        assert_eq!(find(&bob).unwrap()["last_read_seq"], 0);
    }
}

async fn owner_adds_members(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);
    let path = format!("/rooms/{room_id}/members");

    let member = app.add_member(&alice, &room_id, &bob).await;
    assert_member(&member, &bob, "member");
    let room = app.room(&bob, &room_id).await;
    assert_eq!(room["my_role"], "member");
    assert_eq!(room["member_count"], 2);

    app.post(&bob, &path, json!({"user_id": carol.id})).await.expect_problem(403, None);
    app.post(&dave, &path, json!({"user_id": dave.id})).await.expect_problem(404, Some("not_found"));
    let unknown = uuid::Uuid::now_v7();
    app.post(&alice, &path, json!({"user_id": unknown})).await.expect_problem(404, Some("not_found"));
    assert_eq!(app.members(&alice, &room_id).await.len(), 2);
}

async fn re_adding_a_member_answers_200_and_changes_nothing(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);
    let path = format!("/rooms/{room_id}/members");
    app.add_member(&alice, &room_id, &bob).await;
    set_role(&app, &alice, &room_id, &bob, "admin").await.expect_status(200);

    let again = app.post(&alice, &path, json!({"user_id": bob.id})).await.expect_status(200);
    assert_member(&again, &bob, "admin");
    let owner = app.post(&alice, &path, json!({"user_id": alice.id})).await.expect_status(200);
    assert_member(&owner, &alice, "owner");
    assert_eq!(app.members(&alice, &room_id).await.len(), 2);
    let invites = app.notifications(&bob, "").await;
    assert_eq!(invites["items"].as_array().map(Vec::len), Some(1), "one invite, not two: {invites}");
}

async fn only_the_owner_changes_roles(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    app.join(&carol, &room_id).await;

    let member = set_role(&app, &alice, &room_id, &bob, "admin").await.expect_status(200);
    assert_member(&member, &bob, "admin");
    assert_eq!(app.room(&bob, &room_id).await["my_role"], "admin");

    set_role(&app, &bob, &room_id, &carol, "admin").await.expect_problem(403, None);
    set_role(&app, &carol, &room_id, &carol, "admin").await.expect_problem(403, None);
    set_role(&app, &bob, &room_id, &alice, "member").await.expect_problem(403, None);
    for role in ["owner", "boss", ""] {
        let reply = set_role(&app, &alice, &room_id, &carol, role).await;
        reply.expect_problem(422, None);
    }
    assert_eq!(role_of(&app, &alice, &room_id, &carol).await.as_deref(), Some("member"));
    assert_eq!(role_of(&app, &alice, &room_id, &alice).await.as_deref(), Some("owner"));

    let member = set_role(&app, &alice, &room_id, &bob, "member").await.expect_status(200);
    assert_member(&member, &bob, "member");
}

async fn owner_and_admins_remove_members(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);
    for user in [&bob, &carol, &dave] {
        app.add_member(&alice, &room_id, user).await;
    }
    set_role(&app, &alice, &room_id, &bob, "admin").await.expect_status(200);

    remove(&app, &dave, &room_id, &carol).await.expect_problem(403, None);
    remove(&app, &bob, &room_id, &alice).await.expect_problem(403, None);
    remove(&app, &alice, &room_id, &carol).await.expect_status(204);
    remove(&app, &bob, &room_id, &dave).await.expect_status(204);

    let members = app.members(&alice, &room_id).await;
    let usernames: Vec<&str> = members.iter().map(|m| m["user"]["username"].as_str().unwrap()).collect();
    assert_eq!(members.len(), 2, "{usernames:?}");
    assert_eq!(app.room(&alice, &room_id).await["member_count"], 2);
    // Removed from a private room, it is gone for them.
    let path = format!("/rooms/{room_id}");
    app.get(&carol, &path).await.expect_problem(404, Some("not_found"));
    app.get(&dave, &path).await.expect_problem(404, Some("not_found"));
}

async fn admins_manage_the_room_but_cannot_delete_it(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "secret", "private").await);
    app.add_member(&alice, &room_id, &bob).await;
    set_role(&app, &alice, &room_id, &bob, "admin").await.expect_status(200);

    let path = format!("/rooms/{room_id}");
    let updated = app.patch(&bob, &path, json!({"name": "renamed"})).await.expect_status(200);
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["my_role"], "admin");

    let member = app.add_member(&bob, &room_id, &carol).await;
    assert_member(&member, &carol, "member");

    app.delete(&bob, &path).await.expect_problem(403, None);
    app.delete(&carol, &path).await.expect_problem(403, None);
    assert_eq!(app.room(&alice, &room_id).await["member_count"], 3);
}

async fn leaving_owner_hands_over_to_the_earliest_admin(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    for user in [&bob, &carol, &dave] {
        app.join(user, &room_id).await;
    }
    set_role(&app, &alice, &room_id, &dave, "admin").await.expect_status(200);
    set_role(&app, &alice, &room_id, &carol, "admin").await.expect_status(200);

    app.post(&alice, &format!("/rooms/{room_id}/leave"), json!({})).await.expect_status(204);

    // Carol joined before dave: the earliest-joined admin takes over.
    assert_eq!(role_of(&app, &bob, &room_id, &carol).await.as_deref(), Some("owner"));
    assert_eq!(role_of(&app, &bob, &room_id, &dave).await.as_deref(), Some("admin"));
    assert_eq!(role_of(&app, &bob, &room_id, &bob).await.as_deref(), Some("member"));
    assert_eq!(role_of(&app, &bob, &room_id, &alice).await, None);
    assert_eq!(app.room(&carol, &room_id).await["my_role"], "owner");
    let path = format!("/rooms/{room_id}");
    app.patch(&carol, &path, json!({"name": "carol's now"})).await.expect_status(200);
}

async fn leaving_owner_hands_over_to_the_earliest_member(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room_id = id_of(&app.create_room(&alice, "general", "public").await);
    app.join(&bob, &room_id).await;
    app.join(&carol, &room_id).await;

    app.post(&alice, &format!("/rooms/{room_id}/leave"), json!({})).await.expect_status(204);

    assert_eq!(role_of(&app, &carol, &room_id, &bob).await.as_deref(), Some("owner"));
    assert_eq!(role_of(&app, &carol, &room_id, &carol).await.as_deref(), Some("member"));
    let room = app.room(&bob, &room_id).await;
    assert_eq!(room["my_role"], "owner");
    assert_eq!(room["member_count"], 2);
    app.delete(&bob, &format!("/rooms/{room_id}")).await.expect_status(204);
}
