// Keeping what the client knows in step with the server: the joined rooms and the per-room
// seq that resume relies on, member lists and presence. Data only: main.js redraws the
// views after each change.

import * as api from "./api.js";
import { state, rememberUser } from "./state.js";

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
