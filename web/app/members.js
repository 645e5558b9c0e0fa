// The members column: presence dots, last seen, roles, a DM from a name, invitations.

import * as api from "./api.js";
import { h, fill, ago, toast } from "./dom.js";
import { rememberUser } from "./state.js";

/**
 * The member list of the room given to `open(room)`, drawn from `state.members` and
 * `state.users`. Callbacks: `loadMembers(roomId)` (a promise of a room's member list),
 * `onCount(count)` (how many are listed), `onDm(userId)`, `onLeave(room)`, `onPane(pane)`
 * ("chat": back to the conversation, on a phone).
 */
export function createMembers(state, { loadMembers, onCount, onDm, onLeave, onPane }) {
  const list = h("ul", { class: "member-list", "aria-label": "Members" });
  const inviteBox = h("div", { class: "invite" });
  // On a phone the conversation's header has no room for Leave: it lives here.
  const leaveButton = h("button", { class: "ghost leave-room", hidden: true, onclick: () => onLeave(state.rooms.get(shown)) }, "Leave this room");
  const heading = h("h2", { id: "members-title" }, "Members");
  const aside = h(
    "aside",
    { class: "members", "aria-labelledby": "members-title", hidden: true },
    h("div", { class: "section-head" }, heading,
      h("button", { class: "icon back-to-chat", "aria-label": "Back to the conversation", onclick: () => onPane("chat") }, "×")),
    list,
    inviteBox,
    leaveButton,
  );
  /** The room whose members are shown, or null. */
  let shown = null;
  /** The invitation form's suggestions, while it is shown. */
  let options = null;
  setInterval(() => shown && render(), 60_000);

  async function open(room) {
    shown = room.id;
    aside.hidden = false;
    fill(list, h("li", { class: "muted" }, "Loading…"));
    inviteBox.replaceChildren();
    delete inviteBox.dataset.room;
    try {
      await loadMembers(room.id);
      if (shown === room.id) render();
    } catch (e) {
      toast(api.describe(e));
    }
  }

  function close() {
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
    heading.textContent = `Members (${people.length})`;
    onCount(people.length);
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
          : h("button", { class: "member-name link", title: `Message ${user.username}`, "aria-label": `Message ${user.username}`, onclick: () => onDm(user.id) }, user.username),
        h("span", { class: "muted small" }, member.role === "member" ? status : `${member.role} · ${status}`),
      ),
    );
  }

  /** Loads the member list of every joined room, so that everyone we share one with is known. */
  function everyoneKnown() {
    return Promise.allSettled([...state.rooms.keys()].map((id) => loadMembers(id)));
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
      fill(options, inviteOptions(roster));
      return;
    }
    inviteBox.replaceChildren();
    inviteBox.dataset.room = room.id;
    options = h("datalist", { id: "invite-options" }, inviteOptions(roster));
    const input = h("input", { name: "who", list: "invite-options", required: true, autocomplete: "off", placeholder: "username or user id" });
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h("form", { class: "stack" }, h("label", { class: "field" }, h("span", {}, "Invite someone"), input), options, error,
      h("button", { class: "ghost", type: "submit" }, "Invite"));
    // Suggest everyone from every room we are in, not only the rooms opened so far.
    input.addEventListener("focus", () => everyoneKnown().then(() => {
      if (options && options.isConnected) fill(options, inviteOptions(roster));
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
        roster.set(member.user.id, { ...member, user: rememberUser(state, member.user) });
        input.value = "";
        error.textContent = "";
        render();
      } catch (e) {
        error.textContent = e.status === 404 ? "No such user." : api.describe(e);
      }
    });
    inviteBox.append(form);
  }

  /** A user's presence changed in `state.users`: redrawn if they are in the list shown. */
  function userChanged(userId) {
    if (shown && state.members.get(shown) && state.members.get(shown).has(userId)) render();
  }

  /** The member list of `roomId` changed in `state.members`: redrawn if it is the one shown. */
  function roomChanged(roomId) {
    if (shown === roomId) render();
  }

  return { element: aside, open, close, userChanged, roomChanged };
}
