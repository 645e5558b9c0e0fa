//! Store rows to wire types.

use palaver_protocol as wire;

use crate::store::{MemberRow, MessageRow, NotificationRow, RoomView, UserRow};

pub fn user(row: &UserRow, with_email: bool, online: bool) -> wire::User {
    wire::User {
        id: row.id,
        username: row.username.clone(),
        email: with_email.then(|| row.email.clone()),
        created_at: row.created_at,
        online,
        last_seen: row.last_seen,
    }
}

pub fn room(row: RoomView) -> wire::Room {
    wire::Room {
        id: row.id,
        kind: if row.kind == "dm" { wire::RoomKind::Dm } else { wire::RoomKind::Room },
        name: row.name,
        description: row.description,
        visibility: if row.visibility == "public" { wire::Visibility::Public } else { wire::Visibility::Private },
        created_by: row.created_by,
        created_at: row.created_at,
        member_count: row.member_count,
        last_seq: row.last_seq,
        unread_count: row.unread_count,
        my_role: row.my_role.as_deref().map(role),
    }
}

pub fn role(raw: &str) -> wire::Role {
    match raw {
        "owner" => wire::Role::Owner,
        "admin" => wire::Role::Admin,
        _ => wire::Role::Member,
    }
}

pub fn role_name(role: wire::Role) -> &'static str {
    match role {
        wire::Role::Owner => "owner",
        wire::Role::Admin => "admin",
        wire::Role::Member => "member",
    }
}

pub fn member(row: MemberRow, online: bool) -> wire::Member {
    wire::Member {
        user: wire::User {
            id: row.user_id,
            username: row.username,
            email: None,
            created_at: row.created_at,
            online,
            last_seen: row.last_seen,
        },
        role: role(&row.role),
        joined_at: row.joined_at,
        last_read_seq: row.last_read_seq,
    }
}

pub fn message(row: MessageRow) -> wire::Message {
    wire::Message {
        id: row.id,
        room_id: row.room_id,
        seq: row.seq,
        updated_seq: row.updated_seq,
        author: wire::UserRef { id: row.author_id, username: row.author_username },
        kind: match row.kind.as_str() {
            "image" => wire::MessageKind::Image,
            "system" => wire::MessageKind::System,
            _ => wire::MessageKind::Text,
        },
        content: row.content,
        // Uploads are not served yet; no message can reference one (see service::messages).
        attachment: None,
        client_msg_id: row.client_msg_id,
        created_at: row.created_at,
        edited_at: row.edited_at,
        deleted: row.deleted,
    }
}

pub fn notification_kind(raw: &str) -> wire::NotificationKind {
    match raw {
        "dm" => wire::NotificationKind::Dm,
        "invite" => wire::NotificationKind::Invite,
        _ => wire::NotificationKind::Mention,
    }
}

pub fn notification(row: NotificationRow) -> wire::Notification {
    wire::Notification {
        id: row.id,
        kind: notification_kind(&row.kind),
        room_id: row.room_id,
        message_id: row.message_id,
        actor: wire::UserRef { id: row.actor_id, username: row.actor_username },
        created_at: row.created_at,
        read_at: row.read_at,
    }
}
