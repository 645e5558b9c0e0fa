// The Threads view: the threads you follow (started, replied in, mentioned in), newest
// activity first, each with its unread replies; one opens in the thread pane.

import * as api from "./api.js";
import { h, fill, toast } from "./dom.js";
import { roomTitle } from "./state.js";
import { threadLink } from "./threading.js";

/**
 * The list, drawn from `state.threads`. Callbacks: `onLoad(more)` (a promise: the first page
 * into `state.threads`, or with `more` the next one), `onOpenThread(roomId, root)`.
 */
export function createThreads(state, { onLoad, onOpenThread }) {
  const list = h("ul", { class: "thread-list", "aria-label": "Followed threads" });
  const more = h("button", { class: "ghost", hidden: true, onclick: () => load(true) }, "More threads");
  const section = h(
    "section",
    { class: "threads-view", hidden: true, "aria-labelledby": "threads-title" },
    h("header", { class: "conv-head" }, h("div", { class: "conv-title" }, h("h1", { id: "threads-title" }, "Threads"),
      h("p", { class: "muted" }, "Threads you started, replied in or were mentioned in"))),
    h("div", { class: "threads-scroll" }, list, more),
  );

  async function open() {
    section.hidden = false;
    render();
    await load(false);
  }

  function close() {
    section.hidden = true;
  }

  async function load(next) {
    more.disabled = true;
    try {
      await onLoad(next);
      render();
    } catch (e) {
      toast(api.describe(e));
    } finally {
      more.disabled = false;
    }
  }

  function render() {
    if (section.hidden) return;
    more.hidden = !state.threadsCursor;
    if (!state.threads.length) {
      fill(list, h("li", { class: "muted empty" }, "No threads yet. Reply to a message to start one."));
      return;
    }
    fill(list, state.threads.map(item));
  }

  function item(entry) {
    const room = state.rooms.get(entry.room_id);
    const where = room ? (room.kind === "dm" ? `@ ${roomTitle(room, state.me)}` : `# ${room.name}`) : "a room";
    const root = entry.root;
    const text = root.deleted ? "This message was deleted." : root.content || (root.attachment ? "sent an image" : "");
    const unread = entry.unread_count || 0;
    const open = () => onOpenThread(entry.room_id, root);
    return h(
      "li",
      { class: `thread-item${unread ? " has-unread" : ""}`, dataset: { rootId: root.id } },
      h(
        "button",
        { class: "thread-open", "aria-label": `${root.author.username} in ${where}: ${text}${unread ? `, ${unread} unread` : ""}`, onclick: open },
        h("span", { class: "thread-where muted small" }, where),
        h("span", { class: "thread-text" }, h("strong", {}, root.author.username), ` ${text}`),
        unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
      ),
      threadLink(root.thread, open),
    );
  }

  return { element: section, open, close, render };
}
