// What the client knows, in one place, and a bus the views listen on.

export const state = {
  me: null,
  /** id → Room, plus `seq` (the newest room event applied here) and `last` (last message). */
  rooms: new Map(),
  /** The open room's id, "assistant", or null. */
  current: null,
  /** room id → Map(user id → Member) */
  members: new Map(),
  /** user id → User, for everyone seen in a member list (presence lives here). */
  users: new Map(),
  notifications: [],
  socket: null,
  connection: "connecting",
};

export const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  bus.addEventListener(name, (event) => handler(event.detail));
}

/** A room's display name: a DM is named after the other person. */
export function roomTitle(room) {
  if (room.kind !== "dm") return room.name;
  const names = room.name.split(", ").filter((name) => name !== state.me.username);
  return names[0] || room.name;
}

export function rememberUser(user) {
  const known = state.users.get(user.id);
  state.users.set(user.id, known ? { ...known, ...user } : user);
  return state.users.get(user.id);
}
