//! Assistant conversations: create, list, rename, delete, read. Private to their owner:
//! another user's conversation is 404 everywhere. These work with or without an LLM.

use palaver_protocol as wire;

use super::Assistant;
use crate::clock;
use crate::domain::{ConversationId, ConversationTitle, PageLimit};
use crate::error::{Error, Result};
use crate::service::Caller;
use crate::store::{ChatMessageRow, ConversationRow};

/// Offset paging as the contract has it; `default` and at most 100.
fn page(query: &wire::OffsetQuery, default: i64) -> Result<(i64, i64)> {
    let limit = PageLimit::parse_with(query.limit, default, 100).map_err(|e| Error::Validation(vec![e]))?.get();
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(Error::invalid("offset", "must not be negative"));
    }
    Ok((offset, limit))
}

impl Assistant {
    pub async fn create_conversation(
        &self,
        caller: &Caller,
        req: wire::CreateConversationRequest,
    ) -> Result<wire::Conversation> {
        let title =
            ConversationTitle::parse_or_default(req.title.as_deref()).map_err(|e| Error::Validation(vec![e]))?;
        let now = clock::now();
        let row = ConversationRow {
            id: ConversationId::generate(),
            owner_id: caller.id,
            title: title.into_inner(),
            created_at: now,
            updated_at: now,
            total_messages: 0,
            total_tokens_used: 0,
        };
        self.store().create_conversation(&row).await?;
        Ok(conversation(row))
    }

    pub async fn conversations(&self, caller: &Caller, query: wire::OffsetQuery) -> Result<wire::ConversationPage> {
        let (offset, limit) = page(&query, 20)?;
        let (rows, total) = self.store().conversations(caller.id, offset, limit).await?;
        Ok(wire::ConversationPage { items: rows.into_iter().map(conversation).collect(), total, offset, limit })
    }

    /// The caller's conversation, or 404.
    pub(super) async fn own_conversation(&self, caller: &Caller, id: ConversationId) -> Result<ConversationRow> {
        self.store().conversation(caller.id, id).await?.ok_or(Error::NotFound("conversation"))
    }

    pub async fn conversation_messages(
        &self,
        caller: &Caller,
        id: ConversationId,
        query: wire::OffsetQuery,
    ) -> Result<wire::ChatMessagePage> {
        let (offset, limit) = page(&query, 50)?;
        self.own_conversation(caller, id).await?;
        let (rows, total) = self.store().chat_messages(id, offset, limit).await?;
        Ok(wire::ChatMessagePage { items: rows.into_iter().map(chat_message).collect(), total, offset, limit })
    }

    pub async fn rename_conversation(
        &self,
        caller: &Caller,
        id: ConversationId,
        title: &str,
    ) -> Result<wire::Conversation> {
        let title = ConversationTitle::parse(title).map_err(|e| Error::Validation(vec![e]))?;
        let row = self.store().rename_conversation(caller.id, id, &title.into_inner(), clock::now()).await?;
        row.map(conversation).ok_or(Error::NotFound("conversation"))
    }

    /// Soft delete; a running reply is cancelled first.
    pub async fn delete_conversation(&self, caller: &Caller, id: ConversationId) -> Result<()> {
        if !self.store().delete_conversation(caller.id, id, clock::now()).await? {
            return Err(Error::NotFound("conversation"));
        }
        if let Some(engine) = &self.inner.engine {
            engine.replies().cancel(id);
        }
        Ok(())
    }
}

pub(super) fn conversation(row: ConversationRow) -> wire::Conversation {
    wire::Conversation {
        id: row.id.into(),
        title: row.title,
        created_at: row.created_at,
        updated_at: row.updated_at,
        total_messages: row.total_messages,
        total_tokens_used: row.total_tokens_used,
    }
}

pub(super) fn chat_message(row: ChatMessageRow) -> wire::ChatMessage {
    // Written by us (`assistant::run`); a row that does not parse shows no tool calls
    // rather than failing the whole page.
    let tool_calls = serde_json::from_str(&row.tool_calls).unwrap_or_default();
    wire::ChatMessage {
        id: row.id.into(),
        role: row.role.into(),
        status: row.status.into(),
        content: row.content,
        created_at: row.created_at,
        model_used: row.model_used,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        tool_calls,
    }
}
