// What the client knows, in one place. Views are handed this object by main.js (they do not
// import it), so each can be built alone against a state of its own.

export const state = {
  me: null,
  /** id → Room, plus `seq` (the newest room event applied here) and `last` (last message). */
  rooms: new Map(),
  /** The open room's id, "assistant", "threads", "search", or null. */
  current: null,
  /** room id → Map(user id → Member) */
  members: new Map(),
  /** room id → the member list being fetched, so that one request serves every caller. */
  memberLoads: new Map(),
  /** user id → User, for everyone seen in a member list (presence lives here). */
  users: new Map(),
  notifications: [],
  /**
   * The threads this user follows (`GET /threads`), newest activity first: `{room_id, root,
   * unread_count, last_read_seq, latest_seq}` (`latest_seq`: the newest reply seen here), and
   * the cursor of the next page (null at the end).
   */
  threads: [],
  threadsCursor: null,
  /** The newest replies (200 at most) to threads not in `threads`, for a list fetched as they came. */
  strayReplies: [],
  /** The assistant's conversations, newest first, and the one open in its panel. */
  conversations: [],
  conversation: null,
  socket: null,
  connection: "connecting",
  /** Whether the socket has opened before: a reconnect also looks for rooms joined or left meanwhile. */
  connectedOnce: false,
};

/** A room's display name: a DM is named after the other person. */
export function roomTitle(room, me) {
  if (room.kind !== "dm") return room.name;
  const names = room.name.split(", ").filter((name) => name !== me.username);
  return names[0] || room.name;
}

/** Records a user (merged with what is known of them) and returns the record kept. */
export function rememberUser(known, user) {
  const before = known.users.get(user.id);
  known.users.set(user.id, before ? { ...before, ...user } : user);
  return known.users.get(user.id);
}
