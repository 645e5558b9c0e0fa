//! Rooms and memberships in SQL, one macro body for both backends. (Over 400 lines: the room
//! views' counts and a member's unread count are written out per query, not generated.)

use time::OffsetDateTime;

use super::Error;
use crate::domain::{Role, RoomId, RoomKind, Seq, UserId, Visibility};

/// A room as one caller sees it: counts, and the caller's membership if any.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomView {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub last_seq: Seq,
    pub member_count: i64,
    pub my_role: Option<Role>,
    pub unread_count: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub id: RoomId,
    pub kind: RoomKind,
    pub visibility: Visibility,
    pub last_seq: Seq,
    /// The viewer's role, if the viewer is a member.
    pub role: Option<Role>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: UserId,
    pub username: String,
    pub email: String,
    pub created_at: OffsetDateTime,
    pub last_seen: Option<OffsetDateTime>,
    pub kind: crate::domain::UserKind,
    pub role: Role,
    pub joined_at: OffsetDateTime,
    pub last_read_seq: Seq,
}

pub struct NewRoom {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
}

/// The two members of a DM, `low < high`, so the pair has one key whoever opens it.
pub struct DmPair {
    pub low: UserId,
    pub high: UserId,
}

impl DmPair {
    pub fn new(a: UserId, b: UserId) -> Self {
        if a < b { Self { low: a, high: b } } else { Self { low: b, high: a } }
    }

    pub fn key(&self) -> String {
        format!("{}:{}", self.low, self.high)
    }
}

#[async_trait::async_trait]
pub trait RoomStore {
    /// Creates the room with its creator as `owner`.
    async fn create_room(&self, room: NewRoom) -> Result<(), Error>;
    /// Returns the DM room of the pair, creating it (both as `member`) the first time.
    async fn open_dm(&self, pair: DmPair, room: NewRoom) -> Result<RoomId, Error>;
    /// The room and `viewer`'s role in it, in one round trip (every request checks this).
    async fn room(&self, room_id: RoomId, viewer: UserId) -> Result<Option<RoomRow>, Error>;
    async fn room_view(&self, viewer: UserId, room_id: RoomId) -> Result<Option<RoomView>, Error>;
    /// Rooms `viewer` belongs to with an id above `after`, ascending, at most `limit + 1`.
    async fn joined_rooms(&self, viewer: UserId, after: RoomId, limit: i64) -> Result<Vec<RoomView>, Error>;
    /// Public rooms with an id above `after`, ascending, at most `limit + 1`.
    async fn public_rooms(&self, viewer: UserId, after: RoomId, limit: i64) -> Result<Vec<RoomView>, Error>;
    async fn update_room(
        &self,
        room_id: RoomId,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<(), Error>;
    async fn delete_room(&self, room_id: RoomId) -> Result<bool, Error>;
    /// The member's role, if `user_id` is a member.
    async fn role(&self, room_id: RoomId, user_id: UserId) -> Result<Option<Role>, Error>;
    /// `false` if already a member.
    async fn add_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<bool, Error>;
    /// Removes the member; if it was the owner, the earliest-joined admin (else member)
    /// becomes owner. Returns whether a member was removed.
    async fn remove_member(&self, room_id: RoomId, user_id: UserId) -> Result<bool, Error>;
    async fn set_role(&self, room_id: RoomId, user_id: UserId, role: Role) -> Result<bool, Error>;
    async fn members(&self, room_id: RoomId) -> Result<Vec<MemberRow>, Error>;
    async fn member(&self, room_id: RoomId, user_id: UserId) -> Result<Option<MemberRow>, Error>;
    /// Every member of every room that one of `users` is in, as `(room, member)` pairs: who
    /// shares a room with whom, for a batch of users at once (a big room comes back once,
    /// not once per user). Callers keep `users` to a few hundred (a bind parameter each).
    async fn members_of_rooms_of(&self, users: &[UserId]) -> Result<Vec<(RoomId, UserId)>, Error>;
    /// Each of `rooms` that exists, with its last seq.
    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, Error>;
}

/// Every column of `RoomView`; `$1` is the viewer.
macro_rules! room_view_sql {
    () => {
        "SELECT r.id, r.kind, r.name, r.description, r.visibility, r.created_by, r.created_at,
                r.last_seq,
                (SELECT COUNT(*) FROM room_members c WHERE c.room_id = r.id) AS member_count,
                me.role AS my_role,
                CASE WHEN me.user_id IS NULL THEN NULL ELSE
                    (SELECT COUNT(*) FROM messages x
                     WHERE x.room_id = r.id AND x.thread_root_id IS NULL AND x.seq > me.last_read_seq
                       AND x.author_id <> me.user_id AND x.deleted = FALSE)
                END AS unread_count
         FROM rooms r LEFT JOIN room_members me ON me.room_id = r.id AND me.user_id = $1"
    };
}
pub(crate) use room_view_sql;

macro_rules! member_sql {
    () => {
        "SELECT u.id AS user_id, u.username, u.email, u.created_at, u.last_seen, u.kind,
                m.role, m.joined_at, m.last_read_seq
         FROM room_members m JOIN users u ON u.id = m.user_id"
    };
}
pub(crate) use member_sql;

macro_rules! impl_room_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::RoomStore for $store {
            async fn create_room(&self, room: $crate::store::NewRoom) -> Result<(), $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                sqlx::query::<$db>(
                    "INSERT INTO rooms (id, kind, name, description, visibility, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(room.id)
                .bind(room.kind)
                .bind(room.name)
                .bind(room.description)
                .bind(room.visibility)
                .bind(room.created_by)
                .bind(room.created_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query::<$db>(
                    "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)",
                )
                .bind(room.id)
                .bind(room.created_by)
                .bind(room.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn open_dm(
                &self,
                pair: $crate::store::DmPair,
                room: $crate::store::NewRoom,
            ) -> Result<$crate::domain::RoomId, $crate::store::Error> {
                let key = pair.key();
                let mut tx = self.write.begin().await?;
                let created = sqlx::query::<$db>(
                    "INSERT INTO rooms (id, kind, name, description, visibility, created_by, created_at, dm_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (dm_key) DO NOTHING",
                )
                .bind(room.id)
                .bind(room.kind)
                .bind(room.name)
                .bind(room.description)
                .bind(room.visibility)
                .bind(room.created_by)
                .bind(room.created_at)
                .bind(&key)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if created {
                    for user in [pair.low, pair.high] {
                        sqlx::query::<$db>(
                            "INSERT INTO room_members (room_id, user_id, role, joined_at)
                             VALUES ($1, $2, 'member', $3)",
                        )
                        .bind(room.id)
                        .bind(user)
                        .bind(room.created_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let (id,): ($crate::domain::RoomId,) =
                    sqlx::query_as("SELECT id FROM rooms WHERE dm_key = $1").bind(&key).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn room(
                &self,
                room_id: $crate::domain::RoomId,
                viewer: $crate::domain::UserId,
            ) -> Result<Option<$crate::store::RoomRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::RoomRow>(
                    "SELECT r.id, r.kind, r.visibility, r.last_seq, m.role
                     FROM rooms r LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $2
                     WHERE r.id = $1",
                )
                .bind(room_id)
                .bind(viewer)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn room_view(
                &self,
                viewer: $crate::domain::UserId,
                room_id: $crate::domain::RoomId,
            ) -> Result<Option<$crate::store::RoomView>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::RoomView>(concat!(
                    $crate::store::rooms::room_view_sql!(),
                    " WHERE r.id = $2"
                ))
                .bind(viewer)
                .bind(room_id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn joined_rooms(
                &self,
                viewer: $crate::domain::UserId,
                after: $crate::domain::RoomId,
                limit: i64,
            ) -> Result<Vec<$crate::store::RoomView>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::RoomView>(concat!(
                    $crate::store::rooms::room_view_sql!(),
                    " WHERE me.user_id IS NOT NULL AND r.id > $2 ORDER BY r.id LIMIT $3"
                ))
                .bind(viewer)
                .bind(after)
                .bind($crate::store::fetch_limit(limit))
                .fetch_all(&self.read)
                .await?)
            }

            async fn public_rooms(
                &self,
                viewer: $crate::domain::UserId,
                after: $crate::domain::RoomId,
                limit: i64,
            ) -> Result<Vec<$crate::store::RoomView>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::RoomView>(concat!(
                    $crate::store::rooms::room_view_sql!(),
                    " WHERE r.visibility = 'public' AND r.kind = 'room' AND r.id > $2
                      ORDER BY r.id LIMIT $3"
                ))
                .bind(viewer)
                .bind(after)
                .bind($crate::store::fetch_limit(limit))
                .fetch_all(&self.read)
                .await?)
            }

            async fn update_room(
                &self,
                room_id: $crate::domain::RoomId,
                name: Option<String>,
                description: Option<String>,
            ) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>(
                    "UPDATE rooms SET name = COALESCE($2, name), description = COALESCE($3, description)
                     WHERE id = $1",
                )
                .bind(room_id)
                .bind(name)
                .bind(description)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn delete_room(&self, room_id: $crate::domain::RoomId) -> Result<bool, $crate::store::Error> {
                let done =
                    sqlx::query::<$db>("DELETE FROM rooms WHERE id = $1").bind(room_id).execute(&self.write).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn role(
                &self,
                room_id: $crate::domain::RoomId,
                user_id: $crate::domain::UserId,
            ) -> Result<Option<$crate::domain::Role>, $crate::store::Error> {
                let row: Option<($crate::domain::Role,)> =
                    sqlx::query_as("SELECT role FROM room_members WHERE room_id = $1 AND user_id = $2")
                        .bind(room_id)
                        .bind(user_id)
                        .fetch_optional(&self.read)
                        .await?;
                Ok(row.map(|(role,)| role))
            }

            async fn add_member(
                &self,
                room_id: $crate::domain::RoomId,
                user_id: $crate::domain::UserId,
                role: $crate::domain::Role,
                now: time::OffsetDateTime,
            ) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>(
                    "INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (room_id, user_id) DO NOTHING",
                )
                .bind(room_id)
                .bind(user_id)
                .bind(role)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_member(
                &self,
                room_id: $crate::domain::RoomId,
                user_id: $crate::domain::UserId,
            ) -> Result<bool, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let removed: Option<($crate::domain::Role,)> =
                    sqlx::query_as("DELETE FROM room_members WHERE room_id = $1 AND user_id = $2 RETURNING role")
                        .bind(room_id)
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((role,)) = removed else {
                    return Ok(false);
                };
                if role == $crate::domain::Role::Owner {
                    sqlx::query::<$db>(
                        "UPDATE room_members SET role = 'owner'
                         WHERE room_id = $1 AND user_id = (
                             SELECT user_id FROM room_members WHERE room_id = $1
                             ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id
                             LIMIT 1)",
                    )
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn set_role(
                &self,
                room_id: $crate::domain::RoomId,
                user_id: $crate::domain::UserId,
                role: $crate::domain::Role,
            ) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>("UPDATE room_members SET role = $3 WHERE room_id = $1 AND user_id = $2")
                    .bind(room_id)
                    .bind(user_id)
                    .bind(role)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn members(
                &self,
                room_id: $crate::domain::RoomId,
            ) -> Result<Vec<$crate::store::MemberRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::MemberRow>(concat!(
                    $crate::store::rooms::member_sql!(),
                    " WHERE m.room_id = $1 ORDER BY m.joined_at, m.user_id"
                ))
                .bind(room_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn member(
                &self,
                room_id: $crate::domain::RoomId,
                user_id: $crate::domain::UserId,
            ) -> Result<Option<$crate::store::MemberRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::MemberRow>(concat!(
                    $crate::store::rooms::member_sql!(),
                    " WHERE m.room_id = $1 AND m.user_id = $2"
                ))
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn members_of_rooms_of(
                &self,
                users: &[$crate::domain::UserId],
            ) -> Result<Vec<($crate::domain::RoomId, $crate::domain::UserId)>, $crate::store::Error> {
                if users.is_empty() {
                    return Ok(vec![]);
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT m.room_id, m.user_id FROM room_members m WHERE m.room_id IN
                     (SELECT mine.room_id FROM room_members mine WHERE mine.user_id IN (",
                );
                let mut list = query.separated(", ");
                for id in users {
                    list.push_bind(*id);
                }
                query.push("))");
                Ok(query.build_query_as().fetch_all(&self.read).await?)
            }

            async fn last_seqs(
                &self,
                rooms: &[$crate::domain::RoomId],
            ) -> Result<Vec<($crate::domain::RoomId, $crate::domain::Seq)>, $crate::store::Error> {
                if rooms.is_empty() {
                    return Ok(vec![]);
                }
                let mut query = sqlx::QueryBuilder::<$db>::new("SELECT id, last_seq FROM rooms WHERE id IN (");
                let mut list = query.separated(", ");
                for id in rooms {
                    list.push_bind(*id);
                }
                query.push(")");
                Ok(query.build_query_as().fetch_all(&self.read).await?)
            }
        }
    };
}
pub(crate) use impl_room_store;
