//! Bots, their API tokens, and incoming webhooks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::User;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateBotRequest {
    /// 3 to 32 letters, digits, `_`, `.` or `-`; shares the users' namespace.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]*$")]
    pub username: String,
    /// Accepted for clients that send one; the bot's name is its username.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A new bot and its API token, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedBot {
    pub bot: User,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BotList {
    pub items: Vec<User>,
}

/// A bot's new API token, shown this once; the previous one no longer works.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BotToken {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    /// 1 to 100 characters: the name its posts show unless a post names itself.
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub name: String,
    /// Where a tool POSTs: `<base>/hooks/<secret>`. Anyone with it can post to the room.
    pub url: String,
    pub created_by: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}
