// The rooms column: joined rooms and DMs with unread badges and the last message, and the
// dialogs that create a room or browse and join public ones.

import * as api from "./api.js";
import { h, fill, toast } from "./dom.js";
import { roomTitle } from "./state.js";

/**
 * The sidebar, drawn from `state.rooms` (and `state.threads` for the Threads entry's
 * badge). Callbacks: `onOpen(id)` (a room, "assistant" or "threads"), `onEnter(room)` (a
 * room just created or joined, to add and open).
 */
export function createRooms(state, { onOpen, onEnter }) {
  const title = (room) => roomTitle(room, state.me);
  const roomList = h("ul", { class: "room-list", "aria-label": "Rooms" });
  const dmList = h("ul", { class: "room-list", "aria-label": "Direct messages" });
  const assistantEntry = h("button", { class: "room assistant-entry", onclick: () => onOpen("assistant") },
    h("span", { class: "room-name" }, "Assistant"));
  const threadsEntry = h("button", { class: "room threads-entry", onclick: () => onOpen("threads") });
  const element = h(
    "nav",
    { class: "sidebar", "aria-label": "Rooms and conversations" },
    assistantEntry,
    threadsEntry,
    h(
      "div",
      { class: "section-head" },
      h("h2", {}, "Rooms"),
      h("button", { class: "icon", "aria-label": "Browse public rooms", title: "Browse public rooms", onclick: () => browse() }, "⌕"),
      h("button", { class: "icon", "aria-label": "Create a room", title: "Create a room", onclick: () => create() }, "+"),
    ),
    roomList,
    h("div", { class: "section-head" }, h("h2", {}, "Direct messages")),
    dmList,
  );

  /** The Threads entry, with the unread replies of the threads followed. */
  function renderThreads() {
    const unread = (state.threads || []).reduce((sum, entry) => sum + (entry.unread_count || 0), 0);
    threadsEntry.classList.toggle("has-unread", unread > 0);
    threadsEntry.setAttribute("aria-label", unread ? `Threads, ${unread} unread` : "Threads");
    fill(threadsEntry, h("span", { class: "room-name" }, "Threads"),
      unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null);
  }

  function render() {
    renderThreads();
    const sorted = [...state.rooms.values()].sort((a, b) => title(a).localeCompare(title(b)));
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
    const label = `${title(room)}${room.visibility === "private" && room.kind !== "dm" ? " (private)" : ""}${unread ? `, ${unread} unread` : ""}`;
    fill(
      li,
      h(
        "button",
        {
          class: `room${unread ? " has-unread" : ""}`,
          dataset: { room: room.id },
          "aria-label": label,
          "aria-current": room.id === state.current ? "page" : null,
          onclick: () => onOpen(room.id),
        },
        h("span", { class: "room-name" }, room.kind === "dm" ? "@ " : "# ", title(room),
          room.kind !== "dm" && room.visibility === "private" ? h("span", { class: "tag" }, "private") : null),
        unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
        h("span", { class: "room-last", "aria-hidden": "true" }, preview),
      ),
    );
  }

  /** One room's entry again (its badge, its last message), or the whole list if it is new. */
  function renderRoom(room) {
    const li = element.querySelector(`li[data-room-id="${CSS.escape(room.id)}"]`);
    if (li) fillItem(li, room);
    else render();
  }

  /** Marks the entry of `id` (a room or "assistant") as the open one. */
  function showCurrent(id) {
    for (const entry of element.querySelectorAll(".room")) {
      const active = entry.dataset.room === id || (id === "assistant" && entry === assistantEntry) || (id === "threads" && entry === threadsEntry);
      if (active) entry.setAttribute("aria-current", "page");
      else entry.removeAttribute("aria-current");
    }
  }

  function create() {
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
        onEnter(room);
      } catch (e) {
        error.textContent = api.describe(e);
      }
    });
  }

  async function browse() {
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
        for (const room of result.items) list.append(publicRoom(room, dlg));
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

  function publicRoom(room, dlg) {
    const joined = state.rooms.has(room.id);
    return h(
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
              onEnter(result);
            } catch (e) {
              toast(api.describe(e));
            }
          },
        },
        joined ? "Open" : "Join",
      ),
    );
  }

  return { element, render, renderRoom, renderThreads, showCurrent, create, browse };
}

function dialog(title, body) {
  const dlg = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" },
    h("div", { class: "dialog-head" }, h("h2", { id: "dialog-title" }, title),
      h("button", { class: "icon", "aria-label": "Close", onclick: () => dlg.close() }, "×")),
    body);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}
