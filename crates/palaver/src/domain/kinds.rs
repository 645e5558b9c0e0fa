//! The closed sets of the chat domain, as the database stores them (lowercase text).
//! Reading a value outside the set is a decode error, never a silent default: a row the
//! code does not understand must not turn into, say, a member role.

use palaver_protocol as wire;

/// A member's role in a room. Ranked explicitly (`rank`), not by declaration order, so
/// reordering variants cannot change who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// Higher may do more: an owner everything an admin may, an admin everything a member may.
    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 2,
            Role::Admin => 1,
            Role::Member => 0,
        }
    }

    pub fn at_least(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }

    /// Strictly below `other`: whom `other` may remove.
    pub fn below(self, other: Role) -> bool {
        self.rank() < other.rank()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum RoomKind {
    Room,
    Dm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Image,
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum NotificationKind {
    Mention,
    Dm,
    Invite,
    Reply,
}

/// A person, or a bot (an account made by a person, with an API token and no password;
/// incoming webhooks post as bots of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum UserKind {
    User,
    Bot,
}

/// How a message came when not from a person (`messages.via`, NULL for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Via {
    Bot,
    Webhook,
}

/// Who wrote a message of an assistant conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ChatRole {
    User,
    Assistant,
    Tool,
}

/// Where an assistant message stands: `Running` until its reply ends one of the other ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ChatStatus {
    Running,
    Complete,
    Cancelled,
    Interrupted,
    Error,
}

/// The wire enums mirror these one to one; the conversions are the only place they meet.
macro_rules! mirror {
    ($domain:ident <=> $wire:ident { $($variant:ident),+ }) => {
        impl From<$domain> for wire::$wire {
            fn from(value: $domain) -> Self {
                match value { $($domain::$variant => wire::$wire::$variant),+ }
            }
        }
        impl From<wire::$wire> for $domain {
            fn from(value: wire::$wire) -> Self {
                match value { $(wire::$wire::$variant => $domain::$variant),+ }
            }
        }
    };
}

mirror!(Role <=> Role { Owner, Admin, Member });
mirror!(RoomKind <=> RoomKind { Room, Dm });
mirror!(Visibility <=> Visibility { Public, Private });
mirror!(MessageKind <=> MessageKind { Text, Image, System });
mirror!(NotificationKind <=> NotificationKind { Mention, Dm, Invite, Reply });
mirror!(UserKind <=> UserKind { User, Bot });
mirror!(Via <=> Via { Bot, Webhook });
mirror!(ChatRole <=> ChatRole { User, Assistant, Tool });
mirror!(ChatStatus <=> ChatStatus { Running, Complete, Cancelled, Interrupted, Error });

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn roles_rank_owner_over_admin_over_member() {
        assert!(Role::Owner.at_least(Role::Admin) && Role::Admin.at_least(Role::Member));
        assert!(!Role::Member.at_least(Role::Admin) && !Role::Admin.at_least(Role::Owner));
        assert!(Role::Member.below(Role::Admin) && !Role::Admin.below(Role::Admin));
    }
}
