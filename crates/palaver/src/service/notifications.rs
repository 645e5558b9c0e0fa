use palaver_protocol::{MarkNotificationsRequest, NotificationPage, NotificationsQuery};
use uuid::Uuid;

use super::{Caller, views};
use crate::clock;
use crate::domain::{Cursor, PageLimit};
use crate::error::{Error, Result};
use crate::store::DynStore;

/// At most this many ids in one mark-read request.
const MAX_IDS: usize = 500;

/// The notification list (mentions, DMs, invitations): paging and marking read. They are
/// written with the events that cause them (the sequencer, invitations).
#[derive(Clone)]
pub struct Notifications {
    store: DynStore,
}

impl Notifications {
    pub fn new(store: DynStore) -> Self {
        Self { store }
    }

    pub async fn list(&self, caller: &Caller, query: NotificationsQuery) -> Result<NotificationPage> {
        let (limit, cursor) = match (PageLimit::parse(query.limit), Cursor::parse(query.cursor.as_deref())) {
            (Ok(l), Ok(c)) => (l.get(), c.map_or(Uuid::max(), |c| c.0)),
            (l, c) => return Err(Error::fields([l.err(), c.err()])),
        };
        let mut rows = self.store.notifications(caller.id, query.unread_only, cursor, limit).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|n| Cursor::encode(n.id))
        } else {
            None
        };
        Ok(NotificationPage { items: rows.into_iter().map(views::notification).collect(), next_cursor })
    }

    pub async fn mark_read(&self, caller: &Caller, req: MarkNotificationsRequest) -> Result<()> {
        if !req.all && req.ids.is_empty() {
            return Err(Error::invalid("ids", "give ids, or all: true"));
        }
        if req.ids.len() > MAX_IDS {
            return Err(Error::invalid("ids", "at most 500 ids at once"));
        }
        let ids = (!req.all).then_some(req.ids.as_slice());
        self.store.mark_notifications_read(caller.id, ids, clock::now()).await?;
        Ok(())
    }
}
