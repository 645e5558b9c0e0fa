//! The instances in Redis: their heartbeats, and what each one holds that must not outlive
//! it: its users' presence and its running assistant replies.
//!
//! Presence: each instance counts its own sockets (`local.rs`); Redis holds, per
//! user, the set of instances where they are online. A user is online while any instance
//! has them. An instance that stops beating (killed, cut off) is reaped by another one:
//! its users leave every set, and those left with no instance go offline, so a crash
//! settles by itself within `DEAD_AFTER` plus a heartbeat, and a user who reconnects
//! elsewhere meanwhile never flaps. Its running replies are handed to the reaper, which
//! stores them as interrupted.
//!
//! Each change is one script, so two instances never both see themselves as the first or
//! the last of a user. (The scripts name keys they derive, so Redis Cluster is not supported.)
//!
//! A command that fails (Redis restarting, cut off) leaves Redis not knowing something that
//! runs here; the registry notes it, and the next beat has everything registered again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};
use uuid::Uuid;

use crate::domain::{ChatMessageId, UserId};

/// How often an instance says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// An instance silent for this long is gone.
pub const DEAD_AFTER: Duration = Duration::from_secs(20);

const INSTANCES: &str = "palaver:instances";

fn instance_key(instance: Uuid) -> String {
    format!("palaver:instance:{instance}")
}

/// Set once the instance has recorded what runs on it (`InstanceRegistry::registered`).
fn registered_key(instance: Uuid) -> String {
    format!("palaver:instance:{instance}:registered")
}

fn replies_key(instance: Uuid) -> String {
    format!("palaver:instance:{instance}:replies")
}

fn online_key(user: UserId) -> String {
    format!("palaver:online:{}", user.uuid())
}

/// KEYS: the user's instances, this instance's users, the instances. ARGV: instance, user.
/// Returns how many instances have the user now. The instance joins the beats if it is not
/// there (Redis lost its data, or it was reaped, since its last beat): an instance killed
/// before its next beat must still be reaped, or the user stays online for good.
const ARRIVE: &str = r"
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])";

/// KEYS: this instance's replies, the instances. ARGV: instance, reply. Joins the beats as
/// ARRIVE does: a reply started after Redis lost its data, on an instance killed before its
/// next beat, must still be found by the reaper and stored as interrupted.
const REPLY_STARTED: &str = r"
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
redis.call('SADD', KEYS[1], ARGV[2])";

const LEAVE: &str = r"
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])";

/// Beats are Redis's own clock (ms), so the instances' clocks need not agree.
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/// KEYS: the instances, this instance's registered mark. ARGV: this instance, ms to add to
/// now (negative: sooner reaped). Returns 1 if the mark is there (0: first beat, reaped
/// while cut off, Redis lost its data, or a registration that did not finish: its users
/// must be registered again). Not the instance's place among the beats: an arrival puts it
/// there too, after a loss, before its users are all registered again.
const BEAT: &str = r"
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('EXISTS', KEYS[2])";

/// KEYS: the instances. ARGV: ms of silence after which an instance is dead. Returns the
/// users the dead instances leave with no instance, and the dead instances' replies.
const REAP: &str = r"
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local offline = {}
local replies = {}
for _, instance in ipairs(dead) do
  redis.call('ZREM', KEYS[1], instance)
  local users_key = 'palaver:instance:' .. instance
  for _, user in ipairs(redis.call('SMEMBERS', users_key)) do
    local online_key = 'palaver:online:' .. user
    redis.call('SREM', online_key, instance)
    if redis.call('SCARD', online_key) == 0 then
      table.insert(offline, user)
    end
  end
  redis.call('DEL', users_key)
  redis.call('DEL', users_key .. ':registered')
  local replies_key = users_key .. ':replies'
  for _, reply in ipairs(redis.call('SMEMBERS', replies_key)) do
    table.insert(replies, reply)
  end
  redis.call('DEL', replies_key)
end
return {offline, replies}";

/// KEYS: the instances. ARGV: ms of silence after which an instance is dead. Returns the
/// replies the live instances run.
const LIVE_REPLIES: &str = r"
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
local replies = {}
for _, instance in ipairs(live) do
  for _, reply in ipairs(redis.call('SMEMBERS', 'palaver:instance:' .. instance .. ':replies')) do
    table.insert(replies, reply)
  end
end
return replies";

/// What the instances that stopped beating left behind.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Users now on no instance.
    pub offline: Vec<UserId>,
    /// Replies that were running there.
    pub replies: Vec<ChatMessageId>,
}

pub struct InstanceRegistry {
    conn: ConnectionManager,
    instance: Uuid,
    /// A command that records what runs here failed since the last beat: Redis may not
    /// know it (say a user arrived while Redis restarted), so the next beat registers
    /// everything again.
    unsure: AtomicBool,
    arrive: Script,
    reply_started: Script,
    leave: Script,
    beat: Script,
    reap: Script,
    live_replies: Script,
}

impl InstanceRegistry {
    pub fn new(conn: ConnectionManager, instance: Uuid) -> Self {
        Self {
            conn,
            instance,
            unsure: AtomicBool::new(false),
            arrive: Script::new(&format!("{NOW}\n{ARRIVE}")),
            reply_started: Script::new(&format!("{NOW}\n{REPLY_STARTED}")),
            leave: Script::new(LEAVE),
            beat: Script::new(&format!("{NOW}\n{BEAT}")),
            reap: Script::new(&format!("{NOW}\n{REAP}")),
            live_replies: Script::new(&format!("{NOW}\n{LIVE_REPLIES}")),
        }
    }

    /// The user's first socket here: `true` if no other instance had them (online now).
    pub async fn arrived(&self, user: UserId) -> RedisResult<bool> {
        Ok(self.instances_of_user_after(&self.arrive, user).await? == 1)
    }

    /// The user's last socket here is gone for good: `true` if no instance has them now.
    pub async fn left(&self, user: UserId) -> RedisResult<bool> {
        Ok(self.instances_of_user_after(&self.leave, user).await? == 0)
    }

    /// Runs ARRIVE or LEAVE for `user` here; how many instances have them then.
    async fn instances_of_user_after(&self, script: &Script, user: UserId) -> RedisResult<i64> {
        let done = script
            .key(online_key(user))
            .key(instance_key(self.instance))
            .key(INSTANCES)
            .arg(self.instance.to_string())
            .arg(user.uuid().to_string())
            .invoke_async(&mut self.conn.clone())
            .await;
        self.noted(done)
    }

    /// `result`, noting a failure: the next beat registers everything again.
    fn noted<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if result.is_err() {
            self.unsure.store(true, Ordering::Release);
        }
        result
    }

    /// The users Redis has on this instance.
    pub async fn users_here(&self) -> RedisResult<Vec<UserId>> {
        let mut conn = self.conn.clone();
        let users: Vec<String> = redis::cmd("SMEMBERS").arg(instance_key(self.instance)).query_async(&mut conn).await?;
        Ok(users.iter().filter_map(|u| Uuid::parse_str(u).ok()).map(UserId::from_uuid).collect())
    }

    /// Which of `users` some instance has.
    pub async fn online_among(&self, users: &[UserId]) -> RedisResult<HashSet<UserId>> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        let mut pipe = redis::pipe();
        for user in users {
            pipe.exists(online_key(*user));
        }
        let found: Vec<bool> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(users.iter().zip(found).filter(|(_, online)| *online).map(|(user, _)| *user).collect())
    }

    /// Says this instance is alive; `false` if Redis may not hold what runs here (its users
    /// and replies must be registered again, then `registered` called): Redis lost it, or
    /// a command recording it failed since the last beat.
    pub async fn beat(&self) -> RedisResult<bool> {
        let known = self.beat_at(0).await?;
        // Taken only once the beat went through; a failure while registering notes it again.
        Ok(!self.unsure.swap(false, Ordering::AcqRel) && known)
    }

    async fn beat_at(&self, offset_ms: i64) -> RedisResult<bool> {
        let known: i64 = self
            .beat
            .key(INSTANCES)
            .key(registered_key(self.instance))
            .arg(self.instance.to_string())
            .arg(offset_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(known == 1)
    }

    /// Everything that runs here is recorded again (after `beat` said `false`).
    pub async fn registered(&self) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("SET").arg(registered_key(self.instance)).arg(1).query_async(&mut conn).await
    }

    /// Ends the instances that stopped beating; returns what they left behind.
    pub async fn reap(&self) -> RedisResult<Reaped> {
        let dead_after = DEAD_AFTER.as_millis() as i64;
        let (users, replies): (Vec<String>, Vec<String>) =
            self.reap.key(INSTANCES).arg(dead_after).invoke_async(&mut self.conn.clone()).await?;
        Ok(Reaped {
            offline: users.iter().filter_map(|u| Uuid::parse_str(u).ok()).map(UserId::from_uuid).collect(),
            replies: replies.iter().filter_map(|r| Uuid::parse_str(r).ok()).map(ChatMessageId::from_uuid).collect(),
        })
    }

    /// A reply starts running here (recorded before it is stored, so no instance starting
    /// meanwhile takes it for an orphan).
    pub async fn reply_started(&self, reply: ChatMessageId) -> RedisResult<()> {
        let done = self
            .reply_started
            .key(replies_key(self.instance))
            .key(INSTANCES)
            .arg(self.instance.to_string())
            .arg(reply.uuid().to_string())
            .invoke_async(&mut self.conn.clone())
            .await;
        self.noted(done)
    }

    /// (Not noted when it fails: registering again adds what runs, it does not remove what
    /// ended; an ended reply left in the set is stored as complete already.)
    pub async fn reply_ended(&self, reply: ChatMessageId) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("SREM").arg(replies_key(self.instance)).arg(reply.uuid().to_string()).query_async(&mut conn).await
    }

    /// The replies that instances alive now are running.
    pub async fn live_replies(&self) -> RedisResult<HashSet<ChatMessageId>> {
        let dead_after = DEAD_AFTER.as_millis() as i64;
        let replies: Vec<String> =
            self.live_replies.key(INSTANCES).arg(dead_after).invoke_async(&mut self.conn.clone()).await?;
        Ok(replies.iter().filter_map(|r| Uuid::parse_str(r).ok()).map(ChatMessageId::from_uuid).collect())
    }

    /// At shutdown: be reaped once `grace` has passed (sockets closed now may reconnect to
    /// another instance by then), instead of after `DEAD_AFTER`.
    pub async fn leaving(&self, grace: Duration) -> RedisResult<()> {
        self.beat_at(grace.as_millis() as i64 - DEAD_AFTER.as_millis() as i64).await.map(drop)
    }
}
