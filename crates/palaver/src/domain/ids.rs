//! Ids as types. A room id and a user id are both UUIDs (v7), but a function that takes one
//! cannot be handed the other: swapped arguments do not compile. Stored and sent as the
//! plain UUID (`sqlx` and `serde` transparent).

use std::fmt;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id: UUID v7, so ids sort by creation time.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id a client or a wire type gave as a bare UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An account.
    UserId
);
id_type!(
    /// A room or a direct-message room.
    RoomId
);
id_type!(
    /// A message in a room.
    MessageId
);
id_type!(
    /// An uploaded image.
    UploadId
);
id_type!(
    /// An assistant conversation.
    ConversationId
);
id_type!(
    /// A message of an assistant conversation.
    ChatMessageId
);
