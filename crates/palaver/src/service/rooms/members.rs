//! Membership: joining and leaving, the member list, invitations, roles, and the one
//! direct-message room of a pair.

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{Member, MemberList, Room};
use uuid::Uuid;

use super::Rooms;
use crate::clock;
use crate::domain::{NotificationKind, Role, RoomId, RoomKind, UserId, Visibility};
use crate::error::{Conflict, Error, Result};
use crate::realtime::{Control, Topic};
use crate::service::{Caller, views};
use crate::store::{DmPair, NewNotification, NewRoom, Notified};

impl Rooms {
    /// Joins a public room; a no-op for members. A private room (or a DM) the caller is not
    /// in is a 403 here, not the 404 every other endpoint gives (the contract's choice):
    /// joining is how one finds out that a room needs an invitation.
    pub async fn join_room(&self, caller: &Caller, room_id: RoomId) -> Result<Room> {
        let access = self.lookup(caller, room_id).await?;
        if access.role.is_none() {
            if !access.visible() {
                return Err(Error::Forbidden("this room is invitation only"));
            }
            if self.store().add_member(room_id, caller.id, Role::Member, clock::now()).await? {
                self.publish_membership(room_id, caller.id).await?;
            }
        }
        self.room_for(caller, room_id).await
    }

    pub async fn leave_room(&self, caller: &Caller, room_id: RoomId) -> Result<()> {
        let access = self.access(caller, room_id).await?;
        access.member()?;
        let user = self.inner.accounts.user(caller.id).await?;
        if self.store().remove_member(room_id, caller.id).await? {
            self.publish_left(room_id, user);
        }
        Ok(())
    }

    pub async fn members(&self, caller: &Caller, room_id: RoomId) -> Result<MemberList> {
        self.access(caller, room_id).await?;
        let rows = self.store().members(room_id).await?;
        let ids: Vec<UserId> = rows.iter().map(|row| row.user_id).collect();
        let online = self.inner.presence.online_among(&ids).await;
        let items = rows
            .into_iter()
            .map(|row| {
                let online = online.contains(&row.user_id);
                views::member(row, online)
            })
            .collect();
        Ok(MemberList { items })
    }

    /// Adds (invites) a user: owners and admins only; the user is notified. The flag says
    /// whether they were added now (`false`: they already were a member, nothing changed).
    pub async fn add_member(&self, caller: &Caller, room_id: RoomId, user_id: UserId) -> Result<(Member, bool)> {
        let access = self.access(caller, room_id).await?;
        access.at_least(Role::Admin, "only the room's owner or an admin can add members")?;
        if access.is_dm() {
            return Err(Error::Forbidden("a direct message has exactly two members"));
        }
        self.store().user_by_id(user_id).await?.ok_or(Error::NotFound("user"))?;
        let now = clock::now();
        let added = self.store().add_member(room_id, user_id, Role::Member, now).await?;
        if added {
            let id = Uuid::now_v7();
            self.store()
                .insert_notification(NewNotification {
                    id,
                    user_id,
                    kind: NotificationKind::Invite,
                    room_id,
                    message_id: None,
                    actor_id: caller.id,
                    created_at: now,
                })
                .await?;
            self.publish_membership(room_id, user_id).await?;
            let invited = Notified { id, user_id, kind: NotificationKind::Invite };
            self.inner.publisher.publish_notifications(&[invited], room_id, None, caller, now);
        }
        Ok((self.member(room_id, user_id).await?, added))
    }

    async fn member(&self, room_id: RoomId, user_id: UserId) -> Result<Member> {
        let row = self.store().member(room_id, user_id).await?.ok_or(Error::NotFound("member"))?;
        let online = self.inner.presence.is_online(row.user_id).await;
        Ok(views::member(row, online))
    }

    /// Makes a member an admin or back: the owner only. Ownership moves only when the
    /// owner leaves.
    pub async fn set_member_role(
        &self,
        caller: &Caller,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> Result<Member> {
        let access = self.access(caller, room_id).await?;
        access.at_least(Role::Owner, "only the room's owner can change roles")?;
        if role == Role::Owner {
            return Err(Error::invalid("role", "must be admin or member"));
        }
        if user_id == caller.id {
            return Err(Error::Conflict(Conflict::Other(
                "the owner's role cannot change: ownership passes when the owner leaves",
            )));
        }
        if !self.store().set_role(room_id, user_id, role).await? {
            return Err(Error::NotFound("member"));
        }
        self.member(room_id, user_id).await
    }

    /// Removes someone else: owners remove anyone, admins remove plain members.
    pub async fn remove_member(&self, caller: &Caller, room_id: RoomId, user_id: UserId) -> Result<()> {
        if user_id == caller.id {
            return self.leave_room(caller, room_id).await;
        }
        let access = self.access(caller, room_id).await?;
        let mine = access.at_least(Role::Admin, "only the room's owner or an admin can remove members")?;
        let theirs = self.store().role(room_id, user_id).await?.ok_or(Error::NotFound("member"))?;
        if !theirs.below(mine) {
            return Err(Error::Forbidden("you can only remove members below your role"));
        }
        let user = self.inner.accounts.user(user_id).await?;
        if self.store().remove_member(room_id, user_id).await? {
            self.publish_left(room_id, user);
        }
        Ok(())
    }

    /// Tells the room (and the user's own sessions, which are not subscribed yet) that
    /// the user joined.
    async fn publish_membership(&self, room_id: RoomId, user_id: UserId) -> Result<()> {
        let user = self.inner.accounts.user(user_id).await?;
        let event = ServerEvent::MemberJoined { room_id: room_id.uuid(), user };
        self.inner.publisher.publish_room(room_id, &event);
        self.inner.publisher.publish(Topic::User(user_id), &event, Control::None);
        Ok(())
    }

    /// Tells the room the user left, and ends their subscriptions to it.
    fn publish_left(&self, room_id: RoomId, user: palaver_protocol::User) {
        let user_id = UserId::from_uuid(user.id);
        let event = ServerEvent::MemberLeft { room_id: room_id.uuid(), user };
        self.inner.publisher.publish(Topic::Room(room_id), &event, Control::Left(user_id));
    }

    /// The one DM room of the pair, created on first use.
    pub async fn open_dm(&self, caller: &Caller, other: UserId) -> Result<Room> {
        if other == caller.id {
            return Err(Error::invalid("user_id", "cannot open a direct message with yourself"));
        }
        let peer = self.store().user_by_id(other).await?.ok_or(Error::NotFound("user"))?;
        let pair = DmPair::new(caller.id, other);
        let mut names = [caller.username.as_str(), peer.username.as_str()];
        names.sort_unstable();
        let room = NewRoom {
            id: RoomId::generate(),
            kind: RoomKind::Dm,
            name: names.join(", "),
            description: String::new(),
            visibility: Visibility::Private,
            created_by: caller.id,
            created_at: clock::now(),
        };
        let id = self.store().open_dm(pair, room).await?;
        self.room_for(caller, id).await
    }
}
