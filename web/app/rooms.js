// The rooms column: joined rooms and DMs with unread badges and the last message, creating,
// browsing and joining rooms; and the per-room seq that resume relies on.

import * as api from "./api.js";
import { h, fill, toast } from "./dom.js";
import { state, emit, roomTitle } from "./state.js";
import * as conversation from "./conversation.js";
import * as members from "./members.js";
import * as assistant from "./assistant.js";

let roomList;
let dmList;
let assistantEntry;
let connectedOnce = false;

export function sidebar() {
  roomList = h("ul", { class: "room-list", "aria-label": "Rooms" });
  dmList = h("ul", { class: "room-list", "aria-label": "Direct messages" });
  assistantEntry = h("button", { class: "room assistant-entry", onclick: () => open("assistant") },
    h("span", { class: "room-name" }, "Assistant"));
  return h(
    "nav",
    { class: "sidebar", "aria-label": "Rooms and conversations" },
    assistantEntry,
    h(
      "div",
      { class: "section-head" },
      h("h2", {}, "Rooms"),
      h("button", { class: "icon", "aria-label": "Browse public rooms", title: "Browse public rooms", onclick: browse }, "⌕"),
      h("button", { class: "icon", "aria-label": "Create a room", title: "Create a room", onclick: create }, "+"),
    ),
    roomList,
    h("div", { class: "section-head" }, h("h2", {}, "Direct messages")),
    dmList,
  );
}

function adopt(room) {
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

export async function load() {
  for (const room of await joinedRooms()) adopt(room);
  render();
  loadLastMessages([...state.rooms.values()]);
}

/** The newest message of each room, a few requests at a time. */
async function loadLastMessages(rooms) {
  const queue = rooms.filter((room) => room.last_seq > 0);
  const worker = async () => {
    for (let room = queue.shift(); room; room = queue.shift()) {
      try {
        const page = await api.get(`/rooms/${room.id}/messages?limit=1`);
        if (page.items.length && (!room.last || room.last.seq < page.items[0].seq)) room.last = page.items[0];
        renderRoom(room);
      } catch {
        // A preview is optional.
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

/** After every (re)connect: each room from the newest event this client applied. */
export async function resubscribeAll() {
  for (const room of state.rooms.values()) subscribe(room);
  if (connectedOnce) {
    // Rooms joined or left elsewhere while we were away.
    try {
      const fresh = await joinedRooms();
      const ids = new Set(fresh.map((room) => room.id));
      const added = [];
      for (const room of fresh) {
        if (!state.rooms.has(room.id)) {
          added.push(adopt(room));
          subscribe(added.at(-1));
        } else adopt(room);
      }
      loadLastMessages(added);
      for (const id of [...state.rooms.keys()]) if (!ids.has(id)) removed(id);
      render();
    } catch {
      // The next reconnect tries again.
    }
  }
  connectedOnce = true;
}

function subscribe(room) {
  state.socket.send({ type: "subscribe", room_id: room.id, since_seq: room.seq });
}

export function subscribed(frame) {
  if (frame.truncated && frame.room_id === state.current) conversation.reload();
}

/** A room event from the socket: applied once, in seq order, however often it arrives. */
export function applyEvent(frame) {
  const roomId = frame.room_id || (frame.message && frame.message.room_id);
  const room = state.rooms.get(roomId);
  if (!room) return;
  if (frame.seq <= room.seq) return; // already applied (a replay overlapping what we have)
  room.seq = frame.seq;
  room.last_seq = Math.max(room.last_seq, frame.seq);
  const message = frame.message;
  if (frame.type === "message") {
    room.last = message;
    const mine = message.author.id === state.me.id;
    const seen = roomId === state.current && conversation.isReading();
    if (!mine && !seen && !message.deleted) room.unread_count = (room.unread_count || 0) + 1;
  } else if (frame.type === "message_updated" && room.last && room.last.id === message.id) {
    room.last = message;
  } else if (frame.type === "message_deleted" && room.last && room.last.id === frame.message_id) {
    room.last = { ...room.last, deleted: true, content: "" };
  }
  renderRoom(room);
  if (roomId === state.current) conversation.apply(frame);
}

export function markRead(roomId) {
  const room = state.rooms.get(roomId);
  if (room && room.unread_count) {
    room.unread_count = 0;
    renderRoom(room);
  }
}

/** Our own read marker moved in another tab or device. */
export function readElsewhere(frame) {
  members.readMarker(frame);
  if (frame.user_id === state.me.id) {
    const room = state.rooms.get(frame.room_id);
    if (room && frame.seq >= room.last_seq) markRead(room.id);
  }
}

export async function membership(frame) {
  if (frame.user.id === state.me.id) {
    if (frame.type === "member_joined") await discover(frame.room_id);
    else if (frame.type === "member_left") {
      removed(frame.room_id);
    }
    return;
  }
  members.membership(frame);
}

/** A room we were added to elsewhere (an invitation, a new DM): listed and subscribed. */
export async function discover(roomId) {
  if (state.rooms.has(roomId)) return;
  try {
    const room = await api.get(`/rooms/${roomId}`);
    if (state.rooms.has(roomId) || room.my_role === null) return;
    const adopted = adopt(room);
    subscribe(adopted);
    render();
    loadLastMessages([adopted]);
  } catch {
    // It went again before we looked.
  }
}

export function updated(room) {
  if (!state.rooms.has(room.id)) return;
  adopt(room);
  render();
  if (room.id === state.current) conversation.header(state.rooms.get(room.id));
}

export function removed(roomId) {
  if (!state.rooms.delete(roomId)) return;
  render();
  if (state.current === roomId) {
    const next = state.rooms.keys().next().value;
    if (next) open(next, { focus: false });
    else open("assistant");
  }
}

export function open(id, { focus = true, show = true } = {}) {
  state.current = id;
  const welcome = document.getElementById("welcome");
  if (welcome) welcome.hidden = true;
  sessionStorage.setItem("palaver.view", id);
  for (const item of document.querySelectorAll(".sidebar .room")) {
    const active = item.dataset.room === id || (id === "assistant" && item === assistantEntry);
    if (active) item.setAttribute("aria-current", "page");
    else item.removeAttribute("aria-current");
  }
  if (id === "assistant") {
    conversation.close();
    members.close();
    assistant.open();
  } else {
    const room = state.rooms.get(id);
    if (!room) return;
    assistant.close();
    conversation.open(room, { focus });
    members.open(room);
  }
  // On a phone the first screen is the list of rooms, even with one open behind it.
  if (show) emit("pane", "chat");
}

function render() {
  const sorted = [...state.rooms.values()].sort((a, b) => roomTitle(a).localeCompare(roomTitle(b)));
  fill(roomList, sorted.filter((room) => room.kind !== "dm").map(item));
  fill(dmList, sorted.filter((room) => room.kind === "dm").map(item));
  if (!roomList.children.length) roomList.append(h("li", { class: "empty" }, "No rooms yet: create one or browse."));
  if (!dmList.children.length) dmList.append(h("li", { class: "empty" }, "Click a member's name to message them."));
}

function item(room) {
  const li = h("li", { dataset: { roomId: room.id } });
  fillItem(li, room);
  return li;
}

function fillItem(li, room) {
  const unread = room.unread_count || 0;
  const preview = room.last
    ? room.last.deleted
      ? "message deleted"
      : `${room.last.author.username}: ${room.last.content || (room.last.attachment ? "sent an image" : "")}`
    : room.description || "";
  const label = `${roomTitle(room)}${room.visibility === "private" && room.kind !== "dm" ? " (private)" : ""}${unread ? `, ${unread} unread` : ""}`;
  fill(
    li,
    h(
      "button",
      {
        class: `room${unread ? " has-unread" : ""}`,
        dataset: { room: room.id },
        "aria-label": label,
        "aria-current": room.id === state.current ? "page" : null,
        onclick: () => open(room.id),
      },
      h("span", { class: "room-name" }, room.kind === "dm" ? "@ " : "# ", roomTitle(room),
        room.kind !== "dm" && room.visibility === "private" ? h("span", { class: "tag" }, "private") : null),
      unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
      h("span", { class: "room-last", "aria-hidden": "true" }, preview),
    ),
  );
}

function renderRoom(room) {
  const li = document.querySelector(`.sidebar li[data-room-id="${CSS.escape(room.id)}"]`);
  if (li) fillItem(li, room);
  else render();
}

/** Adds a room we just joined or created and opens it. */
export async function enter(room) {
  const adopted = adopt(room);
  subscribe(adopted);
  render();
  open(room.id);
}

function dialog(title, body, { onclose } = {}) {
  const dlg = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
    h("div", { class: "dialog-head" }, h("h2", { id: "dialog-title" }, title),
      h("button", { class: "icon", "aria-label": "Close", onclick: () => dlg.close() }, "×")),
    body);
  dlg.addEventListener("close", () => {
    dlg.remove();
    if (onclose) onclose();
  });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}
export { dialog };

export function create() {
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "stack" },
    h("label", { class: "field" }, h("span", {}, "Name"), h("input", { name: "name", required: true, maxlength: 100 })),
    h("label", { class: "field" }, h("span", {}, "Description (optional)"), h("textarea", { name: "description", rows: 2, maxlength: 1000 })),
    h(
      "fieldset",
      { class: "choice" },
      h("legend", {}, "Who can join"),
      h("label", {}, h("input", { type: "radio", name: "visibility", value: "public", checked: true }), " Public: anyone can find and join"),
      h("label", {}, h("input", { type: "radio", name: "visibility", value: "private" }), " Private: members invite people"),
    ),
    error,
    h("button", { class: "primary", type: "submit" }, "Create room"),
  );
  const dlg = dialog("Create a room", form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const room = await api.post("/rooms", {
        name: data.get("name"),
        description: data.get("description") || undefined,
        visibility: data.get("visibility"),
      });
      dlg.close();
      enter(room);
    } catch (e) {
      error.textContent = api.describe(e);
    }
  });
}

export async function browse() {
  const list = h("ul", { class: "browse-list", "aria-label": "Public rooms" }, h("li", {}, "Loading…"));
  const more = h("button", { class: "ghost", hidden: true }, "More");
  const dlg = dialog("Public rooms", h("div", { class: "stack" }, list, more));
  let cursor = null;
  let first = true;
  const page = async () => {
    try {
      const result = await api.get(`/rooms?scope=public&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      if (first) list.replaceChildren();
      first = false;
      for (const room of result.items) {
        const joined = state.rooms.has(room.id);
        list.append(
          h(
            "li",
            {},
            h("div", {}, h("strong", {}, `# ${room.name}`), h("span", { class: "muted" }, ` · ${room.member_count} member${room.member_count === 1 ? "" : "s"}`),
              room.description ? h("div", { class: "muted" }, room.description) : null),
            h(
              "button",
              {
                class: joined ? "ghost" : "primary",
                "aria-label": `${joined ? "Open" : "Join"} ${room.name}`,
                onclick: async () => {
                  try {
                    const result = joined ? room : await api.post(`/rooms/${room.id}/join`);
                    dlg.close();
                    enter(result);
                  } catch (e) {
                    toast(api.describe(e));
                  }
                },
              },
              joined ? "Open" : "Join",
            ),
          ),
        );
      }
      if (!list.children.length) list.append(h("li", { class: "muted" }, "No public rooms yet."));
      cursor = result.next_cursor;
      more.hidden = !cursor;
    } catch (e) {
      fill(list, h("li", { class: "form-error" }, api.describe(e)));
    }
  };
  more.addEventListener("click", page);
  await page();
  return dlg;
}

export async function leave(room) {
  if (!confirm(`Leave ${roomTitle(room)}?`)) return;
  try {
    await api.post(`/rooms/${room.id}/leave`);
    state.socket.send({ type: "unsubscribe", room_id: room.id });
    removed(room.id);
  } catch (e) {
    toast(api.describe(e));
  }
}

export async function openDm(userId) {
  try {
    enter(await api.post("/dms", { user_id: userId }));
  } catch (e) {
    toast(api.describe(e));
  }
}
