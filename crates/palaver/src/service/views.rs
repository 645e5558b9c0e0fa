//! Store rows to wire types: the one place typed ids and stored kinds become the contract's
//! plain UUIDs and enums.

use palaver_protocol as wire;

use crate::clock;
use crate::domain::UserKind;
use crate::store::{MemberRow, MessageRow, NotificationRow, RoomView, UserRow};
use crate::uploads::signed::UrlSigner;

pub fn user(row: &UserRow, with_email: bool, online: bool) -> wire::User {
    wire::User {
        id: row.id.into(),
        username: row.username.clone(),
        kind: row.kind.into(),
        // A bot's address is a placeholder, not a mailbox.
        email: (with_email && row.kind == UserKind::User).then(|| row.email.clone()),
        created_at: row.created_at,
        online,
        last_seen: row.last_seen,
    }
}

pub fn room(row: RoomView) -> wire::Room {
    wire::Room {
        id: row.id.into(),
        kind: row.kind.into(),
        name: row.name,
        description: row.description,
        visibility: row.visibility.into(),
        created_by: row.created_by.into(),
        created_at: row.created_at,
        member_count: row.member_count,
        last_seq: row.last_seq.get(),
        unread_count: row.unread_count,
        my_role: row.my_role.map(Into::into),
    }
}

pub fn member(row: MemberRow, online: bool) -> wire::Member {
    wire::Member {
        user: wire::User {
            id: row.user_id.into(),
            username: row.username,
            kind: row.kind.into(),
            email: None,
            created_at: row.created_at,
            online,
            last_seen: row.last_seen,
        },
        role: row.role.into(),
        joined_at: row.joined_at,
        last_read_seq: row.last_read_seq.get(),
    }
}

/// A message with its attachment's URLs signed now; a deleted message shows none. What
/// it shows beyond its row (repliers, reactions) is added by `messages::Decorations`.
pub fn message(row: MessageRow, signer: &UrlSigner) -> wire::Message {
    let attachment = row.attachment().filter(|_| !row.deleted);
    wire::Message {
        id: row.id.into(),
        room_id: row.room_id.into(),
        seq: row.seq.get(),
        updated_seq: row.updated_seq.get(),
        author: wire::UserRef { id: row.author_id.into(), username: row.author_username },
        kind: row.kind.into(),
        content: row.content,
        attachment: attachment.map(|a| super::uploads::attachment(signer, a, clock::now())),
        client_msg_id: row.client_msg_id,
        created_at: row.created_at,
        edited_at: row.edited_at,
        deleted: row.deleted,
        thread_root_id: row.thread_root_id.map(Into::into),
        // Who replied comes from `Decorations`; the count and time are on the row.
        thread: (row.reply_count > 0).then(|| wire::ThreadSummary {
            reply_count: row.reply_count,
            last_reply_at: row.last_reply_at.unwrap_or(row.created_at),
            participants: Vec::new(),
        }),
        reactions: Vec::new(),
        via: row.via.map(Into::into),
    }
}

pub fn notification(row: NotificationRow) -> wire::Notification {
    wire::Notification {
        id: row.id,
        kind: row.kind.into(),
        room_id: row.room_id.into(),
        message_id: row.message_id.map(Into::into),
        thread_root_id: row.thread_root_id.map(Into::into),
        actor: wire::UserRef { id: row.actor_id.into(), username: row.actor_username },
        created_at: row.created_at,
        read_at: row.read_at,
    }
}
