//! Search: the caller's query parsed (`search::Query`), matched by the store among the
//! messages of rooms the caller is in now, each hit shown as it is now (decorated like
//! history) with a snippet of plain-text segments.

use palaver_protocol::{SearchHit, SearchPage, SearchQuery, SearchRoom, SnippetSegment};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Caller;
use super::messages::decorated;
use crate::domain::{MessageId, PageLimit, RoomId, UserId};
use crate::error::{Error, Result};
use crate::search::{Query, snippet};
use crate::store::{DynStore, SearchFilter, SearchOrder, SearchRequest};
use crate::uploads::signed::UrlSigner;

#[derive(Clone)]
pub struct Search {
    store: DynStore,
    /// Hits carry attachments with signed URLs.
    signer: UrlSigner,
}

fn invalid(field: &str, message: &str) -> Error {
    Error::invalid(field, message)
}

fn time(field: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>> {
    raw.map(|raw| OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| invalid(field, "must be an RFC 3339 time")))
        .transpose()
}

/// A cursor names its sort, so a page of one sort cannot continue another.
fn cursor(order: &str, raw: Option<&str>) -> Result<SearchOrder> {
    let bad = || invalid("cursor", "is not a cursor this server issued for this sort");
    let numbers =
        |rest: &str| -> Result<Vec<i64>> { rest.split('.').map(|n| n.parse::<i64>().map_err(|_| bad())).collect() };
    Ok(match (order, raw) {
        ("recent", None) => SearchOrder::Recent { after: None },
        ("relevance", None) => SearchOrder::Relevance { after: None },
        ("recent", Some(raw)) => match numbers(raw.strip_prefix('r').ok_or_else(bad)?)?.as_slice() {
            [pos] => SearchOrder::Recent { after: Some(*pos) },
            _ => return Err(bad()),
        },
        ("relevance", Some(raw)) => match numbers(raw.strip_prefix('v').ok_or_else(bad)?)?.as_slice() {
            [rank, pos] => SearchOrder::Relevance { after: Some((*rank, *pos)) },
            _ => return Err(bad()),
        },
        _ => return Err(invalid("sort", "must be recent or relevance")),
    })
}

impl Search {
    pub fn new(store: DynStore, uploads: &super::Uploads) -> Self {
        Self { store, signer: uploads.signer().clone() }
    }

    pub async fn search(&self, caller: &Caller, params: SearchQuery) -> Result<SearchPage> {
        // Every field checked, each bad one named.
        let query = Query::parse(params.q.as_deref().unwrap_or(""));
        let limit = PageLimit::parse_with(params.limit, 20, 100);
        let has_image = match params.has.as_deref() {
            None => Ok(false),
            Some("image") => Ok(true),
            Some(_) => Err(palaver_protocol::FieldError { field: "has".into(), message: "must be image".into() }),
        };
        let (query, limit, has_image) = match (query, limit, has_image) {
            (Ok(q), Ok(l), Ok(h)) => (q, l.get(), h),
            (q, l, h) => return Err(Error::fields([q.err(), l.err(), h.err()])),
        };
        let since = time("since", params.since.as_deref())?;
        let until = time("until", params.until.as_deref())?;
        let order = cursor(params.sort.as_deref().unwrap_or("recent"), params.cursor.as_deref())?;
        let filter = SearchFilter {
            room_id: params.room_id.map(RoomId::from_uuid),
            author_id: params.author_id.map(UserId::from_uuid),
            thread_root_id: params.thread_root_id.map(MessageId::from_uuid),
            has_image,
            since,
            until,
        };
        let request = SearchRequest { viewer: caller.id, query: &query, filter, order, limit };
        let mut rows = self.store.search(&request).await?;
        let next_cursor = (rows.len() as i64 > limit).then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|row| match order {
                SearchOrder::Recent { .. } => format!("r{}", row.pos),
                SearchOrder::Relevance { .. } => format!("v{}.{}", row.rank, row.pos),
            })
        });
        let rooms: Vec<SearchRoom> = rows
            .iter()
            .map(|row| SearchRoom {
                id: row.message.room_id.into(),
                kind: row.room_kind.into(),
                name: row.room_name.clone(),
            })
            .collect();
        let messages = decorated(&self.store, &self.signer, rows.into_iter().map(|row| row.message).collect()).await?;
        let items = messages
            .into_iter()
            .zip(rooms)
            .map(|(message, room)| {
                let snippet = snippet(&message.content, &query)
                    .into_iter()
                    .map(|(text, matched)| SnippetSegment { text, matched })
                    .collect();
                SearchHit { message, room, snippet }
            })
            .collect();
        Ok(SearchPage { items, next_cursor: next_cursor.flatten() })
    }
}
