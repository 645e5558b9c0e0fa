// The members column: presence dots, last seen, roles, a DM from a name, invitations.

import * as api from "./api.js";
import { h, fill, ago, toast } from "./dom.js";
import { state, emit, rememberUser } from "./state.js";
import * as rooms from "./rooms.js";
import * as conversation from "./conversation.js";

let aside;
let list;
let inviteBox;
let leaveButton;
let shown = null;
const loading = new Map();

export function panel() {
  list = h("ul", { class: "member-list", "aria-label": "Members" });
  inviteBox = h("div", { class: "invite" });
  // On a phone the conversation's header has no room for Leave: it lives here.
  leaveButton = h("button", { class: "ghost leave-room", hidden: true, onclick: () => rooms.leave(state.rooms.get(shown)) }, "Leave this room");
  aside = h(
    "aside",
    { class: "members", "aria-labelledby": "members-title", hidden: true },
    h("div", { class: "section-head" }, h("h2", { id: "members-title" }, "Members"),
      h("button", { class: "icon back-to-chat", "aria-label": "Back to the conversation", onclick: () => emit("pane", "chat") }, "×")),
    list,
    inviteBox,
    leaveButton,
  );
  setInterval(() => shown && render(), 60_000);
  return aside;
}

/** The room's members (fetched once, then kept current by the socket). */
export function ensure(roomId) {
  if (state.members.has(roomId)) return Promise.resolve(state.members.get(roomId));
  if (!loading.has(roomId)) {
    const load = api
      .get(`/rooms/${roomId}/members`)
      .then((page) => {
        const roster = new Map(page.items.map((member) => [member.user.id, { ...member, user: rememberUser(member.user) }]));
        state.members.set(roomId, roster);
        return roster;
      })
      .finally(() => loading.delete(roomId));
    loading.set(roomId, load);
  }
  return loading.get(roomId);
}

export async function open(room) {
  shown = room.id;
  aside.hidden = false;
  fill(list, h("li", { class: "muted" }, "Loading…"));
  inviteBox.replaceChildren();
  delete inviteBox.dataset.room;
  try {
    await ensure(room.id);
    if (shown === room.id) render();
  } catch (e) {
    toast(api.describe(e));
  }
}

export function close() {
  shown = null;
  aside.hidden = true;
}

function render() {
  const roster = state.members.get(shown);
  const room = state.rooms.get(shown);
  if (!roster || !room) return;
  const people = [...roster.values()].map((m) => ({ ...m, user: state.users.get(m.user.id) || m.user }));
  people.sort((a, b) => Number(b.user.online) - Number(a.user.online) || a.user.username.localeCompare(b.user.username));
  fill(list, people.map(item));
  document.getElementById("members-title").textContent = `Members (${people.length})`;
  conversation.setMemberCount(people.length);
  leaveButton.hidden = room.kind === "dm";
  renderInvite(room, roster);
}

function item(member) {
  const user = member.user;
  const me = user.id === state.me.id;
  const status = user.online ? "online" : `last seen ${ago(user.last_seen)}`;
  return h(
    "li",
    { class: "member", dataset: { userId: user.id } },
    h("span", { class: `dot${user.online ? " online" : ""}`, role: "img", "aria-label": user.online ? "online" : "offline" }),
    h(
      "div",
      { class: "member-text" },
      me
        ? h("span", { class: "member-name" }, `${user.username} (you)`)
        : h("button", { class: "member-name link", title: `Message ${user.username}`, "aria-label": `Message ${user.username}`, onclick: () => rooms.openDm(user.id) }, user.username),
      h("span", { class: "muted small" }, member.role === "member" ? status : `${member.role} · ${status}`),
    ),
  );
}

/** Loads the member list of every joined room, so that everyone we share one with is known. */
function everyoneKnown() {
  return Promise.allSettled([...state.rooms.keys()].map((id) => ensure(id)));
}

async function findUser(name) {
  const find = () => [...state.users.values()].find((u) => u.username.toLowerCase() === name.toLowerCase());
  if (find()) return find();
  await everyoneKnown();
  return find();
}

function inviteOptions(roster) {
  return [...state.users.values()].filter((u) => !roster.has(u.id)).map((u) => h("option", { value: u.username }));
}

function renderInvite(room, roster) {
  if (room.kind === "dm" || !["owner", "admin"].includes(room.my_role)) {
    inviteBox.replaceChildren();
    delete inviteBox.dataset.room;
    return;
  }
  // The list re-renders on every presence change: keep the form (and what is being typed
  // in it), refresh only its suggestions.
  if (inviteBox.dataset.room === room.id && inviteBox.firstChild) {
    fill(document.getElementById("invite-options"), inviteOptions(roster));
    return;
  }
  inviteBox.replaceChildren();
  inviteBox.dataset.room = room.id;
  const options = h("datalist", { id: "invite-options" }, inviteOptions(roster));
  const input = h("input", { name: "who", list: "invite-options", required: true, autocomplete: "off", placeholder: "username or user id" });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "stack" }, h("label", { class: "field" }, h("span", {}, "Invite someone"), input), options, error,
    h("button", { class: "ghost", type: "submit" }, "Invite"));
  // Suggest everyone from every room we are in, not only the rooms opened so far.
  input.addEventListener("focus", () => everyoneKnown().then(() => {
    const list = document.getElementById("invite-options");
    if (list) fill(list, inviteOptions(roster));
  }), { once: true });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wanted = input.value.trim();
    const known = await findUser(wanted);
    const id = known ? known.id : /^[0-9a-f-]{36}$/i.test(wanted) ? wanted : null;
    if (!id) {
      error.textContent = "Palaver has no user search: invite by the name of someone you share a room with, or by their user id.";
      return;
    }
    try {
      const member = await api.post(`/rooms/${room.id}/members`, { user_id: id });
      roster.set(member.user.id, { ...member, user: rememberUser(member.user) });
      input.value = "";
      error.textContent = "";
      render();
    } catch (e) {
      error.textContent = e.status === 404 ? "No such user." : api.describe(e);
    }
  });
  inviteBox.append(form);
}

export function presence(frame) {
  const user = state.users.get(frame.user_id);
  if (!user) return;
  user.online = frame.online;
  if (frame.last_seen) user.last_seen = frame.last_seen;
  if (shown && state.members.get(shown) && state.members.get(shown).has(frame.user_id)) render();
}

export function membership(frame) {
  const roster = state.members.get(frame.room_id);
  const room = state.rooms.get(frame.room_id);
  if (roster) {
    if (frame.type === "member_joined" && !roster.has(frame.user.id)) {
      roster.set(frame.user.id, { user: rememberUser(frame.user), role: "member", joined_at: new Date().toISOString(), last_read_seq: 0 });
    } else if (frame.type === "member_left") {
      roster.delete(frame.user.id);
    }
    if (room) room.member_count = roster.size;
  }
  if (shown === frame.room_id) render();
}

export function readMarker(frame) {
  const roster = state.members.get(frame.room_id);
  const member = roster && roster.get(frame.user_id);
  if (member) member.last_read_seq = Math.max(member.last_read_seq, frame.seq);
}
