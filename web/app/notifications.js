// Mentions, DMs, invitations and replies in threads: a bell with the unread count and a list
// to open them from (a room, or the thread a reply or a mention is in).

import * as api from "./api.js";
import { h, fill, formatTime, toast } from "./dom.js";

const WHAT = { mention: "mentioned you in", dm: "sent you a message in", invite: "added you to", reply: "replied in a thread in" };

/**
 * The bell and its list, drawn from `state.notifications`. Callbacks: `onUnknownRoom(roomId)`
 * (a notification names a room not known yet: a promise settled once it has been looked
 * for), `onOpenRoom(roomId)`, `onOpenThread(roomId, rootId)` (a reply, or a mention in a
 * thread).
 */
export function createNotifications(state, { onUnknownRoom, onOpenRoom, onOpenThread }) {
  const count = h("span", { class: "badge", hidden: true });
  const bell = h("button", { class: "ghost bell", "aria-haspopup": "dialog", onclick: toggle }, h("span", { class: "bell-icon", "aria-hidden": "true" }), h("span", { class: "label" }, "Notifications"), count);
  const popup = h("div", { class: "popup notifications", role: "dialog", "aria-label": "Notifications", hidden: true });
  document.addEventListener("keydown", (event) => event.key === "Escape" && !popup.hidden && hide());
  document.addEventListener("click", (event) => !popup.hidden && !popup.contains(event.target) && !bell.contains(event.target) && hide());
  const element = h("div", { class: "bell-wrap" }, bell, popup);

  async function load() {
    try {
      const page = await api.get("/notifications?limit=50");
      state.notifications = page.items;
      render();
    } catch {
      // Not essential to start.
    }
  }

  function add(notification) {
    if (state.notifications.some((n) => n.id === notification.id)) return;
    state.notifications.unshift(notification);
    render();
    // A DM or an invitation can be the first we hear of a room: once it is known, the
    // notification can say its name.
    if (notification.room_id && !state.rooms.has(notification.room_id)) onUnknownRoom(notification.room_id).then(render);
  }

  function unread() {
    return state.notifications.filter((n) => !n.read_at).length;
  }

  function render() {
    const n = unread();
    count.hidden = !n;
    count.textContent = String(n);
    bell.setAttribute("aria-label", n ? `Notifications, ${n} unread` : "Notifications");
    const items = state.notifications.map((n) => {
      const room = state.rooms.get(n.room_id);
      const where = room ? (room.kind === "dm" ? "a direct message" : `#${room.name}`) : "a room";
      return h(
        "li",
        { class: n.read_at ? "read" : "unread" },
        h("button", { class: "link", onclick: () => openOne(n) },
          h("strong", {}, n.actor ? n.actor.username : "Someone"), ` ${WHAT[n.kind] || "notified you in"} ${where}`),
        h("time", { class: "muted small", datetime: n.created_at }, formatTime(n.created_at)),
      );
    });
    fill(
      popup,
      h("div", { class: "section-head" }, h("h2", {}, "Notifications"),
        unread() ? h("button", { class: "ghost small", onclick: markAll }, "Mark all read") : null),
      items.length ? h("ul", { class: "notification-list" }, items) : h("p", { class: "muted" }, "Nothing yet."),
    );
  }

  function toggle() {
    if (popup.hidden) {
      popup.hidden = false;
      bell.setAttribute("aria-expanded", "true");
      render();
      const first = popup.querySelector("button");
      if (first) first.focus();
    } else hide();
  }

  function hide() {
    popup.hidden = true;
    bell.setAttribute("aria-expanded", "false");
  }

  async function openOne(n) {
    hide();
    if (!n.read_at) {
      n.read_at = new Date().toISOString();
      render();
      api.post("/notifications/read", { ids: [n.id] }).catch((e) => toast(api.describe(e)));
    }
    if (!state.rooms.has(n.room_id)) return;
    if (n.thread_root_id) onOpenThread(n.room_id, n.thread_root_id);
    else onOpenRoom(n.room_id);
  }

  async function markAll() {
    try {
      await api.post("/notifications/read", { all: true });
      const now = new Date().toISOString();
      for (const n of state.notifications) n.read_at ||= now;
      render();
    } catch (e) {
      toast(api.describe(e));
    }
  }

  return { element, load, add };
}
