//! Search: matching a parsed `search::Query` against the indexed terms, written once for
//! both backends; only the match itself (FTS5 on SQLite, a GIN-indexed `tsvector` on
//! PostgreSQL), the insertion order and the time comparison differ, and are given to the
//! macro. Both match the same terms (`search/terms.rs`), so both find the same messages.
//! Only messages of rooms the viewer is in now, never deleted ones.

use time::OffsetDateTime;

use super::{Error, MessageRow};
use crate::domain::{MessageId, RoomId, RoomKind, UserId};
use crate::search::{Query, Term};

/// What narrows a search besides its words.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    pub room_id: Option<RoomId>,
    pub author_id: Option<UserId>,
    /// The thread: its root and its replies.
    pub thread_root_id: Option<MessageId>,
    pub has_image: bool,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// The order of hits, with where the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// Newest first (insertion order), after `pos`.
    Recent { after: Option<i64> },
    /// Densest first (the shortest indexed text holding every part), newest first among
    /// equals; after `(rank, pos)`.
    Relevance { after: Option<(i64, i64)> },
}

pub struct SearchRequest<'a> {
    pub viewer: UserId,
    pub query: &'a Query,
    pub filter: SearchFilter,
    pub order: SearchOrder,
    pub limit: i64,
}

/// A hit: the message, its room, and where it sorts (for the cursor).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SearchRow {
    #[sqlx(flatten)]
    pub message: MessageRow,
    pub room_kind: RoomKind,
    pub room_name: String,
    pub pos: i64,
    pub rank: i64,
}

#[async_trait::async_trait]
pub trait SearchStore {
    /// At most `limit + 1` hits, in the order asked.
    async fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<SearchRow>, Error>;
    /// Indexes up to `batch` messages not indexed yet (written before search existed);
    /// returns how many.
    async fn index_unindexed(&self, batch: i64) -> Result<u64, Error>;
}

/// A double-quoted FTS5 string of terms (letters and digits only, so nothing to escape).
fn fts5_phrase(terms: &[&str]) -> String {
    format!("\"{}\"", terms.join(" "))
}

fn fts5_part(term: &Term) -> String {
    match term {
        Term::Word(word) => fts5_phrase(&[word.as_str()]),
        Term::Prefix(stem) => format!("{}*", fts5_phrase(&[stem.as_str()])),
        Term::Phrase { prefix, .. } => {
            let phrase = fts5_phrase(&term.terms());
            if *prefix { format!("{phrase}*") } else { phrase }
        }
    }
}

/// The query in FTS5's syntax: `"a" AND "b c" AND "d"* NOT "e"`.
pub(crate) fn fts5_query(query: &Query) -> String {
    let mut out = query.must.iter().map(fts5_part).collect::<Vec<_>>().join(" AND ");
    for part in &query.not {
        out.push_str(" NOT ");
        out.push_str(&fts5_part(part));
    }
    out
}

fn ts_part(term: &Term) -> String {
    let lexeme = |t: &str| format!("'{t}'");
    match term {
        Term::Word(word) => lexeme(word),
        Term::Prefix(stem) => format!("{}:*", lexeme(stem)),
        Term::Phrase { terms, prefix } => {
            let last = terms.len() - 1;
            let parts: Vec<String> = terms
                .iter()
                .enumerate()
                .map(|(i, t)| if i == last && *prefix { format!("{}:*", lexeme(t)) } else { lexeme(t) })
                .collect();
            format!("({})", parts.join(" <-> "))
        }
    }
}

/// The query as a `tsquery` literal: `'a' & ('b' <-> 'c') & 'd':* & !'e'`, read as it is
/// (a cast, not `to_tsquery`: no parser or dictionary runs on it).
pub(crate) fn tsquery(query: &Query) -> String {
    let must = query.must.iter().map(ts_part);
    let not = query.not.iter().map(|t| format!("!{}", ts_part(t)));
    must.chain(not).collect::<Vec<_>>().join(" & ")
}

/// Implements `SearchStore` for a backend. `from` names `messages m` (joined to the index
/// if it is a table of its own); `matches` wraps the bound query (rendered by `render`);
/// `pos` is the insertion order; `time` the expression of `m.created_at` that compares as
/// time, and `time_of` wraps a bound time the same way.
macro_rules! impl_search_store {
    ($store:ty, $db:ty, render: $render:path, from: $from:literal, matches: ($mopen:literal, $mclose:literal),
     pos: $pos:literal, time: $time:literal, time_of: ($open:literal, $close:literal)) => {
        #[async_trait::async_trait]
        impl $crate::store::SearchStore for $store {
            async fn search(
                &self,
                request: &$crate::store::SearchRequest<'_>,
            ) -> Result<Vec<$crate::store::SearchRow>, $crate::store::Error> {
                use $crate::store::SearchOrder;
                let mut q = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    $crate::store::messages::message_columns!(),
                    ", r.kind AS room_kind, r.name AS room_name, ",
                    $pos,
                    " AS pos, CAST(length(m.search_text) AS BIGINT) AS rank ",
                    $from
                ));
                q.push(concat!(
                    " JOIN users u ON u.id = m.author_id LEFT JOIN uploads up ON up.id = m.upload_id
                      JOIN rooms r ON r.id = m.room_id WHERE ",
                    $mopen
                ));
                q.push_bind($render(request.query)).push($mclose);
                q.push(
                    " AND m.deleted = FALSE
                      AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = m.room_id AND rm.user_id = ",
                );
                q.push_bind(request.viewer).push(")");
                let f = &request.filter;
                if let Some(room_id) = f.room_id {
                    q.push(" AND m.room_id = ").push_bind(room_id);
                }
                if let Some(author_id) = f.author_id {
                    q.push(" AND m.author_id = ").push_bind(author_id);
                }
                if let Some(root) = f.thread_root_id {
                    q.push(" AND (m.thread_root_id = ").push_bind(root).push(" OR m.id = ").push_bind(root).push(")");
                }
                if f.has_image {
                    q.push(" AND m.upload_id IS NOT NULL");
                }
                if let Some(since) = f.since {
                    q.push(concat!(" AND ", $time, " >= ", $open)).push_bind(since).push($close);
                }
                if let Some(until) = f.until {
                    q.push(concat!(" AND ", $time, " <= ", $open)).push_bind(until).push($close);
                }
                match request.order {
                    SearchOrder::Recent { after } => {
                        if let Some(pos) = after {
                            q.push(concat!(" AND ", $pos, " < ")).push_bind(pos);
                        }
                        q.push(concat!(" ORDER BY ", $pos, " DESC"));
                    }
                    SearchOrder::Relevance { after } => {
                        if let Some((rank, pos)) = after {
                            q.push(" AND (length(m.search_text) > ").push_bind(rank);
                            q.push(" OR (length(m.search_text) = ").push_bind(rank);
                            q.push(concat!(" AND ", $pos, " < ")).push_bind(pos).push("))");
                        }
                        q.push(concat!(" ORDER BY length(m.search_text) ASC, ", $pos, " DESC"));
                    }
                }
                q.push(" LIMIT ").push_bind($crate::store::fetch_limit(request.limit));
                // Not a cached prepared statement: PostgreSQL plans each search for its own
                // terms (a generic plan cannot tell a common word, best found by walking the
                // newest messages, from a rare one, best found through the index).
                let query = q.build_query_as::<$crate::store::SearchRow>().persistent(false);
                Ok(query.fetch_all(&self.read).await?)
            }

            async fn index_unindexed(&self, batch: i64) -> Result<u64, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let rows: Vec<($crate::domain::MessageId, String, bool)> =
                    sqlx::query_as("SELECT id, content, deleted FROM messages WHERE search_text IS NULL LIMIT $1")
                        .bind(batch)
                        .fetch_all(&mut *tx)
                        .await?;
                for (id, content, deleted) in &rows {
                    let text = if *deleted { String::new() } else { $crate::search::index_text(content) };
                    sqlx::query::<$db>("UPDATE messages SET search_text = $2 WHERE id = $1")
                        .bind(*id)
                        .bind(text)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(rows.len() as u64)
            }
        }
    };
}
pub(crate) use impl_search_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_render_as_terms_only() {
        let q = Query::parse(r#"deploy "release notes" stag* -friday 中文搜索"#).unwrap();
        assert_eq!(fts5_query(&q), r#""deploy" AND "release notes" AND "stag"* AND "中文 文搜 搜索" NOT "friday""#);
        assert_eq!(
            tsquery(&q),
            "'deploy' & ('release' <-> 'notes') & 'stag':* & ('中文' <-> '文搜' <-> '搜索') & !'friday'"
        );
        let q = Query::parse(r#"x' OR 1=1 -- "a\"b"#);
        assert!(q.is_err(), "an unbalanced quote");
        let q = Query::parse(r#"x' OR) 1=1"#).unwrap();
        assert_eq!(fts5_query(&q), r#""x" AND "or" AND "1 1""#);
    }
}
