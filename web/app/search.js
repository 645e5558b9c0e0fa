// Search: a box opened from the header (or Ctrl+K, Cmd+K, or "/" outside a field), its
// filters, the hits with what matched marked, and more of them on demand. A hit opens its
// message (main.js jumps there); the query and its results stay for when the box opens again.

import * as api from "./api.js";
import { h, fill, formatTime } from "./dom.js";
import { roomTitle } from "./state.js";

const PAGE = 20;

/**
 * The search view (in the middle column) and its opener for the header (`button`). Callbacks:
 * - `onOpen()`: the header's button or a shortcut asks for the view (main.js shows it and
 *   calls `open`);
 * - `onClose()`: Escape or × (main.js goes back to what was open before);
 * - `onJump(message)`: a hit was chosen: open its room, or its thread, at the message.
 */
export function createSearch(state, { onOpen, onClose, onJump }) {
  const mac = /Mac|iPhone|iPad/.test((navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || "");
  const button = h(
    "button",
    { class: "ghost search-open", "aria-label": "Search messages", "aria-keyshortcuts": "Control+K Meta+K /", title: `Search messages (${mac ? "⌘K" : "Ctrl+K"} or /)`, onclick: () => onOpen() },
    h("span", { class: "search-icon", "aria-hidden": "true" }),
    h("span", { class: "label", "aria-hidden": "true" }, "Search"),
    h("kbd", { "aria-hidden": "true" }, mac ? "⌘K" : "Ctrl K"),
  );

  const field = h("input", {
    type: "text",
    class: "search-field",
    name: "q",
    "aria-label": "Search messages",
    "aria-describedby": "search-help",
    "aria-errormessage": "search-error",
    placeholder: "Search messages",
    autocomplete: "off",
    enterkeyhint: "search",
  });
  // Each control named on its own: a name taken from a label around a <select> takes in its options.
  const where = h("select", { name: "room", "aria-label": "In which room" });
  const author = h("select", { name: "author", "aria-label": "From whom" });
  const since = h("input", { type: "date", name: "since", "aria-label": "Since" });
  const image = h("input", { type: "checkbox", name: "image", "aria-label": "Has an image" });
  const sort = h("select", { name: "sort", "aria-label": "Sort by" }, h("option", { value: "recent" }, "Newest first"), h("option", { value: "relevance" }, "Best match"));
  const filter = (label, control) => h("label", { class: "filter" }, h("span", {}, label), control);
  const form = h(
    "form",
    { class: "search-form", role: "search" },
    h(
      "div",
      { class: "search-row" },
      h("span", { class: "search-icon", "aria-hidden": "true" }),
      field,
      h("button", { type: "submit", class: "primary" }, "Search"),
    ),
    h(
      "div",
      { class: "search-filters" },
      filter("In", where),
      filter("From", author),
      filter("Since", since),
      h("label", { class: "filter check" }, image, h("span", {}, "Has an image")),
      filter("Sort", sort),
    ),
    h("p", { id: "search-help", class: "muted small search-help" }, "All the words, in any order · \"a phrase\" · deplo* for a prefix · -word to leave one out"),
  );
  const error = h("p", { id: "search-error", class: "form-error search-error", role: "alert" });
  const status = h("p", { class: "search-status", role: "status" });
  const list = h("ul", { class: "search-results", "aria-label": "Search results" });
  const more = h("button", { class: "ghost more", hidden: true, onclick: () => loadMore() }, "Load more results");
  const closeButton = h("button", { class: "icon", "aria-label": "Close the search", title: "Close the search (Escape)", onclick: () => onClose() }, "×");
  const section = h(
    "section",
    { class: "search-view", hidden: true, "aria-labelledby": "search-title" },
    h("header", { class: "conv-head" }, h("div", { class: "conv-title" }, h("h1", { id: "search-title" }, "Search")), h("div", { class: "spacer" }), closeButton),
    h("div", { class: "search-scroll" }, form, error, status, list, more),
  );

  /** The search whose hits are shown: its query string (without the cursor), next cursor, hits by id. */
  let shown = null;
  /** Counts searches, so that only the newest one's answer is drawn. */
  let asked = 0;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  // A changed filter applies at once to the query in the box.
  for (const control of [where, author, since, image, sort]) control.addEventListener("change", () => field.value.trim() && run());
  field.addEventListener("input", () => {
    field.removeAttribute("aria-invalid");
    error.textContent = "";
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && list.querySelector(".hit")) {
      event.preventDefault();
      list.querySelector(".hit").focus();
    }
  });
  list.addEventListener("keydown", moveAmongHits);
  section.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) {
      event.preventDefault();
      onClose();
    }
  });
  document.addEventListener("keydown", (event) => {
    // A view left behind by an earlier sign-in is no longer in the page: it does nothing.
    if (!button.isConnected || event.defaultPrevented || event.isComposing) return;
    // (A keydown from autofill has no key.)
    const combo = (event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && (event.key || "").toLowerCase() === "k";
    const slash = event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !typingIn(event.target);
    if ((!combo && !slash) || document.querySelector("dialog[open]")) return;
    event.preventDefault();
    if (section.hidden) onOpen();
    else focus();
  });

  /** Shown, with `roomId` (the room open before, or null) offered as a filter. */
  function open(roomId) {
    section.hidden = false;
    drawFilters(roomId);
    focus();
  }

  function close() {
    section.hidden = true;
  }

  function focus() {
    field.focus();
    field.select();
  }

  /** The room and author choices, from the rooms joined and the people known now; a choice made stays. */
  function drawFilters(roomId) {
    const room = where.value;
    const rooms = [...state.rooms.values()].sort((a, b) => (a.id === roomId ? -1 : b.id === roomId ? 1 : roomTitle(a, state.me).localeCompare(roomTitle(b, state.me))));
    fill(
      where,
      h("option", { value: "" }, "All rooms"),
      rooms.map((r) => h("option", { value: r.id }, `${r.kind === "dm" ? "@" : "#"} ${roomTitle(r, state.me)}${r.id === roomId ? " (this room)" : ""}`)),
    );
    where.value = state.rooms.has(room) ? room : "";
    const person = author.value;
    const people = [...state.users.values()].filter((u) => u.id !== state.me.id).sort((a, b) => a.username.localeCompare(b.username));
    fill(
      author,
      h("option", { value: "" }, "Anyone"),
      h("option", { value: state.me.id }, `${state.me.username} (you)`),
      people.map((u) => h("option", { value: u.id }, u.username)),
    );
    author.value = [...author.options].some((o) => o.value === person) ? person : "";
  }

  /** The query string of the box and the filters (without a cursor). */
  function query() {
    const params = new URLSearchParams({ q: field.value, sort: sort.value, limit: String(PAGE) });
    if (where.value) params.set("room_id", where.value);
    if (author.value) params.set("author_id", author.value);
    if (image.checked) params.set("has", "image");
    // The start of that day where the user is, in UTC (RFC 3339).
    const [year, month, day] = since.value.split("-").map(Number);
    if (year && month && day) params.set("since", new Date(year, month - 1, day).toISOString().replace(/\.\d+Z$/, "Z"));
    return params.toString();
  }

  async function run() {
    if (!field.value.trim()) {
      field.focus();
      return;
    }
    const params = query();
    const ticket = ++asked;
    shown = null;
    error.textContent = "";
    field.removeAttribute("aria-invalid");
    list.replaceChildren();
    more.hidden = true;
    list.setAttribute("aria-busy", "true");
    status.className = "search-status";
    status.textContent = "Searching…";
    try {
      const page = await api.get(`/search?${params}`);
      if (ticket !== asked) return;
      shown = { q: field.value.trim(), params, cursor: page.next_cursor, ids: new Set() };
      add(page.items);
    } catch (e) {
      if (ticket !== asked) return;
      status.textContent = "";
      // An unparseable query (422) says why, next to the box.
      error.textContent = e instanceof api.ApiError && e.status === 422 ? reason(e) : api.describe(e);
      if (e instanceof api.ApiError && e.status === 422) field.setAttribute("aria-invalid", "true");
    } finally {
      if (ticket === asked) list.removeAttribute("aria-busy");
    }
  }

  async function loadMore() {
    const at = shown;
    if (!at || !at.cursor) return;
    const ticket = asked;
    more.disabled = true;
    const hadFocus = document.activeElement === more;
    const before = list.children.length;
    status.textContent = "Loading more…";
    try {
      const page = await api.get(`/search?${at.params}&cursor=${encodeURIComponent(at.cursor)}`);
      if (ticket !== asked) return;
      at.cursor = page.next_cursor;
      add(page.items);
      // The keyboard goes on to the first new hit (the button may be gone).
      const next = list.children[before];
      if (hadFocus && next) next.querySelector(".hit").focus();
    } catch (e) {
      if (ticket !== asked) return;
      tell();
      error.textContent = api.describe(e);
    } finally {
      more.disabled = false;
    }
  }

  /** Appends hits (each message once, should pages overlap) and says how many there are. */
  function add(items) {
    const at = shown;
    for (const item of items) {
      if (at.ids.has(item.message.id)) continue;
      at.ids.add(item.message.id);
      list.append(hit(item));
    }
    more.hidden = !at.cursor;
    tell();
  }

  /** How many hits are shown, or the empty state. */
  function tell() {
    const at = shown;
    const n = at.ids.size;
    status.className = `search-status${n ? "" : " empty"}`;
    status.textContent = n ? `${n} message${n === 1 ? "" : "s"}${at.cursor ? ", more below" : ""}` : `No messages match “${at.q}”.`;
  }

  function hit(item) {
    const message = item.message;
    const room = state.rooms.get(item.room.id) || item.room;
    const place = room.kind === "dm" ? `@ ${roomTitle(room, state.me)}` : `# ${room.name}`;
    return h(
      "li",
      {},
      h(
        "button",
        { class: "hit", dataset: { messageId: message.id }, onclick: () => onJump(message) },
        h(
          "span",
          { class: "hit-head" },
          h("span", { class: "hit-room" }, place),
          message.thread_root_id ? h("span", { class: "tag" }, "in a thread") : null,
          h("strong", { class: "hit-author" }, message.author.username),
          h("time", { datetime: message.created_at }, formatTime(message.created_at)),
        ),
        h("span", { class: "hit-snippet" }, snippet(item)),
        message.attachment ? h("span", { class: "tag" }, "image") : null,
      ),
    );
  }

  /** The snippet as text nodes, what matched in <mark> (the server puts "…" where it cuts the message). */
  function snippet(item) {
    const parts = item.snippet || [];
    if (parts.length) return parts.map((part) => (part.match ? h("mark", {}, part.text) : part.text));
    const content = item.message.content || "";
    return content.length > 200 ? `${content.slice(0, 200)}…` : content;
  }

  /** Up and Down (Home, End) go from hit to hit; Up from the first goes back to the box. */
  function moveAmongHits(event) {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    const hits = [...list.querySelectorAll(".hit")];
    const at = hits.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const next = event.key === "Home" ? 0 : event.key === "End" ? hits.length - 1 : at + (event.key === "ArrowDown" ? 1 : -1);
    if (next < 0) field.focus();
    else if (next < hits.length) hits[next].focus();
    else if (!more.hidden) more.focus();
  }

  return { element: section, button, open, close, isOpen: () => !section.hidden };
}

/** Why the server refused a query: its first error's message (the field named unless it is `q`). */
function reason(error) {
  const first = error.errors[0];
  if (!first) return error.message;
  return first.field && first.field !== "q" ? `${first.field}: ${first.message}` : first.message;
}

/** Whether a key press is typing into something (then "/" is a character, not the shortcut). */
function typingIn(target) {
  return !!target && target instanceof Element && (!!target.closest("input, textarea, select, [contenteditable]") || target.isContentEditable);
}
