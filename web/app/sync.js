// Keeping what the client knows in step with the server: the joined rooms and the per-room
// seq that resume relies on, member lists, presence, followed threads and their unread
// replies, and the writes that go over the socket when it is open (replies, reactions).
// Data only: main.js redraws the views after each change.

import * as api from "./api.js";
import { state, rememberUser } from "./state.js";
import { addReply } from "./threading.js";

/** A room from the server, merged into what this client has applied. */
export function adopt(room) {
  const known = state.rooms.get(room.id);
  if (known) {
    // Keep what this client has applied: the seq and unread count move with the events.
    Object.assign(known, { ...room, seq: known.seq, unread_count: known.unread_count, last: known.last });
    return known;
  }
  const adopted = { ...room, seq: room.last_seq, last: null };
  state.rooms.set(room.id, adopted);
  return adopted;
}

async function joinedRooms() {
  const all = [];
  let cursor = null;
  do {
    const page = await api.get(`/rooms?scope=joined&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

export async function loadRooms() {
  for (const room of await joinedRooms()) adopt(room);
}

/** The newest message of each room, a few requests at a time; `onLast(room)` after each. */
export async function loadLastMessages(rooms, onLast) {
  const queue = rooms.filter((room) => room.last_seq > 0);
  const worker = async () => {
    for (let room = queue.shift(); room; room = queue.shift()) {
      try {
        const page = await api.get(`/rooms/${room.id}/messages?limit=1`);
        if (page.items.length && (!room.last || room.last.seq < page.items[0].seq)) room.last = page.items[0];
        onLast(room);
      } catch {
        // A preview is optional.
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** Subscribes from the newest event this client applied, so the server replays the rest. */
export function subscribe(room) {
  state.socket.send({ type: "subscribe", room_id: room.id, since_seq: room.seq });
}

/** Rooms joined or left elsewhere: the new ones adopted and subscribed, the ids of the gone. */
export async function refreshJoined() {
  const fresh = await joinedRooms();
  const ids = new Set(fresh.map((room) => room.id));
  const added = [];
  for (const room of fresh) {
    if (!state.rooms.has(room.id)) {
      added.push(adopt(room));
      subscribe(added.at(-1));
    } else adopt(room);
  }
  const gone = [...state.rooms.keys()].filter((id) => !ids.has(id));
  return { added, gone };
}

/** A room we were added to elsewhere (an invitation, a new DM), adopted and subscribed; null if not. */
export async function discover(roomId) {
  if (state.rooms.has(roomId)) return null;
  try {
    const room = await api.get(`/rooms/${roomId}`);
    if (state.rooms.has(roomId) || room.my_role === null) return null;
    const adopted = adopt(room);
    subscribe(adopted);
    return adopted;
  } catch {
    // It went again before we looked.
    return null;
  }
}

/**
 * A room event from the socket: applied once, in seq order, however often it arrives.
 * `isReading()` says whether the open room is being seen (then nothing new is unread).
 * The room it changed, or null when it was already applied or the room is not ours.
 */
export function applyRoomEvent(frame, isReading) {
  const roomId = frame.room_id || (frame.message && frame.message.room_id);
  const room = state.rooms.get(roomId);
  if (!room) return null;
  if (frame.seq <= room.seq) return null; // already applied (a replay overlapping what we have)
  room.seq = frame.seq;
  room.last_seq = Math.max(room.last_seq, frame.seq);
  const message = frame.message;
  // A reply in a thread is not the room's last message and not one of its unread: those
  // count the top-level timeline only (the thread has its own).
  if (message && message.thread_root_id) return room;
  if (frame.type === "message") {
    room.last = message;
    const mine = message.author.id === state.me.id;
    const seen = roomId === state.current && isReading();
    if (!mine && !seen && !message.deleted) room.unread_count = (room.unread_count || 0) + 1;
  } else if (frame.type === "message_updated" && room.last && room.last.id === message.id) {
    room.last = message;
  } else if (frame.type === "message_deleted" && room.last && room.last.id === frame.message_id) {
    room.last = { ...room.last, deleted: true, content: "" };
  }
  return room;
}

/** Clears a room's unread count; the room if it had one. */
export function markRead(roomId) {
  const room = state.rooms.get(roomId);
  if (!room || !room.unread_count) return null;
  room.unread_count = 0;
  return room;
}

/** The room's members (fetched once, then kept current by the socket). */
export function ensureMembers(roomId) {
  if (state.members.has(roomId)) return Promise.resolve(state.members.get(roomId));
  if (!state.memberLoads.has(roomId)) {
    const load = api
      .get(`/rooms/${roomId}/members`)
      .then((page) => {
        const roster = new Map(page.items.map((member) => [member.user.id, { ...member, user: rememberUser(state, member.user) }]));
        state.members.set(roomId, roster);
        return roster;
      })
      .finally(() => state.memberLoads.delete(roomId));
    state.memberLoads.set(roomId, load);
  }
  return state.memberLoads.get(roomId);
}

/** Someone else joined or left a room: its cached member list and count follow. */
export function membership(frame) {
  const roster = state.members.get(frame.room_id);
  const room = state.rooms.get(frame.room_id);
  if (!roster) return;
  if (frame.type === "member_joined" && !roster.has(frame.user.id)) {
    roster.set(frame.user.id, { user: rememberUser(state, frame.user), role: "member", joined_at: new Date().toISOString(), last_read_seq: 0 });
  } else if (frame.type === "member_left") {
    roster.delete(frame.user.id);
  }
  if (room) room.member_count = roster.size;
}

/** A read marker moved (ours from another tab, or anyone's), in the cached member list. */
export function readMarker(frame) {
  const roster = state.members.get(frame.room_id);
  const member = roster && roster.get(frame.user_id);
  if (member) member.last_read_seq = Math.max(member.last_read_seq, frame.seq);
}

/** Someone came online or went; whether they are someone we know. */
export function presence(frame) {
  const user = state.users.get(frame.user_id);
  if (!user) return false;
  user.online = frame.online;
  if (frame.last_seen) user.last_seen = frame.last_seen;
  return true;
}

/** The followed threads' first page (or, with `more`, the next one) into `state.threads`. */
export async function loadThreads(more = false) {
  if (more && !state.threadsCursor) return;
  const cursor = more ? `&cursor=${encodeURIComponent(state.threadsCursor)}` : "";
  const page = await api.get(`/threads?limit=50${cursor}`);
  const known = new Map(state.threads.map((entry) => [entry.root.id, entry]));
  const fresh = page.items.map((item) => ({ ...item, latest_seq: (known.get(item.root.id) || {}).latest_seq || 0 }));
  if (more) {
    const ids = new Set(fresh.map((entry) => entry.root.id));
    state.threads = [...state.threads.filter((entry) => !ids.has(entry.root.id)), ...fresh];
  } else {
    state.threads = fresh;
  }
  state.threadsCursor = page.next_cursor;
  // Replies that came while the page was on its way: those it does not count yet, counted.
  for (const reply of state.strayReplies) threadReply(reply, false);
}

let threadsReload = null;
/**
 * The first page again, soon, once for a burst of reasons (a reply notification for a thread
 * we just started following, a read marker moved on another device); `onLoaded()` after it.
 */
export function reloadThreadsSoon(onLoaded) {
  clearTimeout(threadsReload);
  threadsReload = setTimeout(() => loadThreads().then(onLoaded, () => {}), 500);
}

/**
 * A reply arrived (applied once, by seq): its followed thread, if we follow it, moves to the
 * top with its summary and, unless it is ours or `seen` (the thread is open and read), one
 * more unread. The unread count moves with the summary: a reply the root's summary already
 * counts (the list was fetched after it) is in the server's unread count too. A reply in a
 * thread not listed is kept a while, for a list being fetched as it arrives. Whether a
 * followed thread changed.
 */
export function threadReply(reply, seen) {
  const at = state.threads.findIndex((entry) => entry.root.id === reply.thread_root_id);
  if (at < 0) {
    state.strayReplies.push(reply);
    if (state.strayReplies.length > 200) state.strayReplies.shift();
    return false;
  }
  const entry = state.threads[at];
  entry.latest_seq = Math.max(entry.latest_seq || 0, reply.seq);
  if (!addReply(entry.root, reply)) return false;
  if (reply.author.id !== state.me.id && !seen && reply.seq > entry.last_read_seq) entry.unread_count = (entry.unread_count || 0) + 1;
  state.threads.splice(at, 1);
  state.threads.unshift(entry);
  return true;
}

/**
 * A thread's read marker moved (`{room_id, root_id, seq}`: here, or on another device as a
 * `thread_read` frame). Read to the newest reply this client has seen, it has none unread;
 * short of that the count is the server's to say (the caller reloads the list). Whether the
 * count went to 0 here.
 */
export function threadRead(frame) {
  const entry = state.threads.find((e) => e.root.id === frame.root_id);
  if (!entry || frame.seq <= entry.last_read_seq) return false;
  entry.last_read_seq = frame.seq;
  if (frame.seq < (entry.latest_seq || 0)) return false;
  entry.unread_count = 0;
  return true;
}

/** Unread replies in all followed threads listed. */
export function threadsUnread() {
  return state.threads.reduce((sum, entry) => sum + (entry.unread_count || 0), 0);
}

/**
 * A thread's root message when only its id is known (a notification): from the followed
 * threads, else from them fetched again, else among the top-level messages just before its
 * first reply (the root precedes its replies). Null when it cannot be found.
 */
export async function findRoot(roomId, rootId, firstReplySeq) {
  const listed = () => state.threads.find((entry) => entry.root.id === rootId);
  if (listed()) return listed().root;
  try {
    await loadThreads();
    if (listed()) return listed().root;
    if (firstReplySeq) {
      const page = await api.get(`/rooms/${roomId}/messages?before=${firstReplySeq}&limit=200`);
      return page.items.find((message) => message.id === rootId) || null;
    }
  } catch {
    // Shown as a root that could not be loaded.
  }
  return null;
}

/**
 * A frame over the socket and its reply, or, while the socket is between connections, the
 * same request over REST (`rest()`). A refusal either way is an `api.ApiError`.
 */
async function viaSocket(frame, rest) {
  if (state.socket && state.socket.open) {
    try {
      return await state.socket.call(frame);
    } catch (error) {
      if (error.code) throw new api.ApiError(0, { detail: error.message, code: error.code });
      // Disconnected before the reply: REST, with the same client_msg_id if there is one.
    }
  }
  return rest();
}

/** Posts a reply in a thread (the WebSocket `send` with `thread_root_id`); the stored Message. */
export async function sendReply(roomId, rootId, content, clientMsgId) {
  const body = { content, client_msg_id: clientMsgId, thread_root_id: rootId };
  const sent = await viaSocket({ type: "send", room_id: roomId, ...body }, () => api.post(`/rooms/${roomId}/messages`, body).then((message) => ({ message })));
  return sent.message;
}

/** Adds or removes our `emoji` on `message` (the `react` frame, or PUT/DELETE); the Message. */
export async function react(message, emoji, added) {
  const path = `/rooms/${message.room_id}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`;
  const frame = { type: "react", room_id: message.room_id, message_id: message.id, emoji, added };
  const done = await viaSocket(frame, () => api.request(added ? "PUT" : "DELETE", path).then((m) => ({ message: m })));
  return done.message;
}
