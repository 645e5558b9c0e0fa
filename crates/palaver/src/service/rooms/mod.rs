//! Rooms: who may see what ([`Rooms::access`], the one place that decides), and creating,
//! listing, changing and deleting rooms. Membership is `members.rs`.

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{CreateRoomRequest, ListRoomsQuery, Room, RoomPage, RoomScope, UpdateRoomRequest};
use uuid::Uuid;

use std::sync::Arc;

use super::{Accounts, Caller, Presence, Publisher, views};
use crate::clock;
use crate::domain::{Cursor, PageLimit, Role, RoomDescription, RoomId, RoomKind, RoomName, Visibility};
use crate::error::{Error, Result};
use crate::realtime::{Control, Topic};
use crate::store::{DynStore, NewRoom, RoomRow};

mod members;

/// What the caller may do in a room they can see.
#[derive(Debug, Clone)]
pub struct Access {
    pub room: RoomRow,
    /// `None` when the caller can see the room (it is public) but is not a member.
    pub role: Option<Role>,
}

impl Access {
    /// Members see any room they are in; anyone signed in sees the public rooms.
    fn visible(&self) -> bool {
        self.role.is_some() || (self.room.kind == RoomKind::Room && self.room.visibility == Visibility::Public)
    }

    pub fn is_dm(&self) -> bool {
        self.room.kind == RoomKind::Dm
    }

    /// Members only; a visible room's non-members get 403, not 404.
    pub fn member(&self) -> Result<Role> {
        self.role.ok_or(Error::Forbidden("join the room first"))
    }

    pub fn at_least(&self, needed: Role, why: &'static str) -> Result<Role> {
        match self.role {
            Some(role) if role.at_least(needed) => Ok(role),
            _ => Err(Error::Forbidden(why)),
        }
    }
}

/// Rooms and who is in them: creating, listing, changing and deleting rooms (here),
/// joining, leaving, inviting, roles and direct messages (`members.rs`).
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    publisher: Publisher,
    /// The user views of members.
    accounts: Accounts,
    presence: Presence,
}

impl Rooms {
    pub fn new(store: DynStore, publisher: Publisher, accounts: Accounts, presence: Presence) -> Self {
        Self { inner: Arc::new(Inner { store, publisher, accounts, presence }) }
    }

    fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// Members only (404 for rooms the caller cannot see, 403 for public rooms not joined).
    pub async fn check_member(&self, caller: &Caller, room_id: RoomId) -> Result<Access> {
        let access = self.access(caller, room_id).await?;
        access.member()?;
        Ok(access)
    }

    /// The room if the caller may see it: public rooms, or any room they belong to.
    /// Anything else is 404, so private rooms are not revealed (joining aside).
    pub async fn access(&self, caller: &Caller, room_id: RoomId) -> Result<Access> {
        let access = self.lookup(caller, room_id).await?;
        if !access.visible() {
            return Err(Error::NotFound("room"));
        }
        Ok(access)
    }

    /// The room and the caller's role in it, whether or not they may see it.
    async fn lookup(&self, caller: &Caller, room_id: RoomId) -> Result<Access> {
        let room = self.store().room(room_id, caller.id).await?.ok_or(Error::NotFound("room"))?;
        let role = room.role;
        Ok(Access { room, role })
    }

    pub async fn create_room(&self, caller: &Caller, req: CreateRoomRequest) -> Result<Room> {
        let (name, description) =
            match (RoomName::parse(&req.name), RoomDescription::parse(req.description.as_deref().unwrap_or(""))) {
                (Ok(n), Ok(d)) => (n, d),
                (n, d) => return Err(Error::fields([n.err(), d.err()])),
            };
        let id = RoomId::generate();
        self.store()
            .create_room(NewRoom {
                id,
                kind: RoomKind::Room,
                name: name.into_inner(),
                description: description.into_inner(),
                visibility: req.visibility.into(),
                created_by: caller.id,
                created_at: clock::now(),
            })
            .await?;
        self.room_for(caller, id).await
    }

    /// The room as `caller` sees it (counts, unread, role).
    pub async fn room_for(&self, caller: &Caller, room_id: RoomId) -> Result<Room> {
        let view = self.store().room_view(caller.id, room_id).await?.ok_or(Error::NotFound("room"))?;
        Ok(views::room(view))
    }

    pub async fn get_room(&self, caller: &Caller, room_id: RoomId) -> Result<Room> {
        self.access(caller, room_id).await?;
        self.room_for(caller, room_id).await
    }

    pub async fn list_rooms(&self, caller: &Caller, query: ListRoomsQuery) -> Result<RoomPage> {
        let (limit, cursor) = match (PageLimit::parse(query.limit), Cursor::parse(query.cursor.as_deref())) {
            (Ok(l), Ok(c)) => (l.get(), RoomId::from_uuid(c.map_or(Uuid::nil(), |c| c.0))),
            (l, c) => return Err(Error::fields([l.err(), c.err()])),
        };
        let mut rows = match query.scope {
            RoomScope::Joined => self.store().joined_rooms(caller.id, cursor, limit).await?,
            RoomScope::Public => self.store().public_rooms(caller.id, cursor, limit).await?,
        };
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| Cursor::encode(r.id.uuid()))
        } else {
            None
        };
        Ok(RoomPage { items: rows.into_iter().map(views::room).collect(), next_cursor })
    }

    pub async fn update_room(&self, caller: &Caller, room_id: RoomId, req: UpdateRoomRequest) -> Result<Room> {
        let access = self.access(caller, room_id).await?;
        access.at_least(Role::Admin, "only the room's owner or an admin can change it")?;
        if access.is_dm() {
            return Err(Error::Forbidden("direct messages cannot be renamed"));
        }
        let name = req.name.as_deref().map(RoomName::parse).transpose();
        let description = req.description.as_deref().map(RoomDescription::parse).transpose();
        let (name, description) = match (name, description) {
            (Ok(n), Ok(d)) => (n, d),
            (n, d) => return Err(Error::fields([n.err(), d.err()])),
        };
        self.store()
            .update_room(room_id, name.map(RoomName::into_inner), description.map(RoomDescription::into_inner))
            .await?;
        let room = self.room_for(caller, room_id).await?;
        let shared = Room { unread_count: None, my_role: None, ..room.clone() };
        self.inner.publisher.publish_room(room_id, &ServerEvent::RoomUpdated { room: shared });
        Ok(room)
    }

    pub async fn delete_room(&self, caller: &Caller, room_id: RoomId) -> Result<()> {
        let access = self.access(caller, room_id).await?;
        access.at_least(Role::Owner, "only the room's owner can delete it")?;
        if self.store().delete_room(room_id).await? {
            let event = ServerEvent::RoomDeleted { room_id: room_id.uuid() };
            self.inner.publisher.publish(Topic::Room(room_id), &event, Control::RoomDeleted);
        }
        Ok(())
    }
}
