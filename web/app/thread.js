// The thread pane: a root message and its replies (paged back), live replies, edits,
// deletes and reactions, a box that replies in the thread, and the thread's read marker.
// It sits beside the conversation (in place of the members column), alone on a phone.

import * as api from "./api.js";
import { h, fill, formatTime, toast, replaceKeepingFocus, flash } from "./dom.js";
import { roomTitle } from "./state.js";
import { messageText } from "./message-text.js";
import { thumbnail } from "./attachment.js";
import { applyReaction, reactionBar, pickReaction } from "./reactions.js";
import { addReply } from "./threading.js";

const PAGE = 50;

/**
 * One thread at a time, given to `open(room, rootId, root, { focus, highlight })` (`highlight`:
 * a reply, `{id}`, to page back to and mark, as a search hit opens it). Callbacks:
 * - `findRoot(roomId, rootId, firstReplySeq)`: a promise of the root message when it was
 *   not handed in (a notification names only its id), or of null;
 * - `onSend(roomId, rootId, content)`: post a reply (a promise of the stored Message);
 * - `onReact(message, emoji, added)`: add or remove our reaction (a promise);
 * - `onRead(roomId, rootId, seq)`: the thread was seen up to the reply `seq`;
 * - `onDm(userId)`, `onClose()` (the pane was closed: by its button or Escape).
 */
export function createThread(state, { findRoot, onSend, onReact, onRead, onDm, onClose }) {
  const title = h("p", { class: "muted small thread-room" });
  const rootBox = h("div", { class: "thread-root" });
  const count = h("div", { class: "thread-count", role: "separator" });
  const earlier = h("button", { class: "ghost small earlier", hidden: true, onclick: () => loadOlder() }, "Load earlier replies");
  const list = h("div", { class: "thread-replies" });
  const log = h("div", { class: "thread-log", role: "log", tabindex: "0", "aria-label": "Thread" }, rootBox, count, earlier, list);
  const field = h("textarea", { class: "thread-field", rows: 1, "aria-label": "Reply in the thread", placeholder: "Reply…", maxlength: 4000 });
  const form = h(
    "form",
    { class: "composer thread-composer" },
    h("div", { class: "composer-row" }, field, h("button", { type: "submit", class: "primary send" }, "Reply")),
  );
  const closeButton = h("button", { class: "icon", "aria-label": "Close the thread", title: "Close the thread (Escape)", onclick: () => dismiss() }, "×");
  const pane = h(
    "aside",
    { class: "thread-pane", hidden: true, "aria-labelledby": "thread-title" },
    h("header", { class: "thread-head" }, h("div", {}, h("h2", { id: "thread-title" }, "Thread"), title), h("div", { class: "spacer" }), closeButton),
    log,
    form,
  );

  /** The open thread and what the pane holds of it. */
  let current = null;
  let readTimer = null;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  field.addEventListener("input", grow);
  pane.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) {
      event.preventDefault();
      dismiss();
    }
  });
  log.addEventListener("scroll", () => maybeRead(), { passive: true });
  document.addEventListener("visibilitychange", () => maybeRead());

  async function open(room, rootId, root, { focus = true, highlight = null } = {}) {
    const generation = { room, rootId, root: root ? structuredClone(root) : null, rootEl: null, byId: new Map(), oldestSeq: null, hasMore: false, loading: true, pending: [], readSent: 0 };
    current = generation;
    pane.hidden = false;
    title.textContent = room.kind === "dm" ? `@ ${roomTitle(room, state.me)}` : `# ${room.name}`;
    list.replaceChildren();
    earlier.hidden = true;
    field.value = "";
    grow();
    drawRoot();
    if (focus) field.focus();
    try {
      const page = await api.get(`/rooms/${room.id}/threads/${rootId}/messages?limit=${PAGE}`);
      if (current !== generation) return;
      if (!generation.root) {
        const found = await findRoot(room.id, rootId, page.items.length ? page.items[0].seq : null);
        if (current !== generation) return;
        generation.root = found ? structuredClone(found) : null;
      }
      for (const reply of page.items) upsert(reply);
      generation.hasMore = page.has_more;
      earlier.hidden = !page.has_more;
      generation.loading = false;
      for (const frame of generation.pending) apply(frame);
      generation.pending = [];
      drawRoot();
      log.scrollTop = log.scrollHeight;
      if (highlight) await reach(generation, highlight);
      maybeRead();
    } catch (e) {
      if (current === generation) toast(api.describe(e));
    }
  }

  /** Pages back to a reply and marks it; at most 20 pages (1,000 replies) back. */
  async function reach(at, reply) {
    for (let pages = 0; !at.byId.has(reply.id) && at.hasMore && pages < 20; pages++) {
      if (current !== at || !(await loadOlder())) return;
    }
    if (current !== at) return;
    const entry = at.byId.get(reply.id);
    if (entry) flash(entry.el);
    else toast("That reply is no longer in the thread.");
  }

  /** The replies again from scratch (after a replay too large for the socket). */
  function reload() {
    if (current) open(current.room, current.rootId, current.root, { focus: false });
  }

  function close() {
    pane.hidden = true;
    current = null;
  }

  function dismiss() {
    close();
    onClose();
  }

  /** The open thread, `{roomId, rootId}`, or null. */
  function shown() {
    return current ? { roomId: current.room.id, rootId: current.rootId } : null;
  }

  /** The page of replies before the oldest held; whether it came. */
  async function loadOlder() {
    const at = current;
    if (!at || at.loading || !at.hasMore || at.oldestSeq === null) return false;
    earlier.disabled = true;
    try {
      const page = await api.get(`/rooms/${at.room.id}/threads/${at.rootId}/messages?before=${at.oldestSeq}&limit=${PAGE}`);
      if (current !== at) return false;
      const fromBottom = log.scrollHeight - log.scrollTop;
      for (const reply of page.items) upsert(reply);
      at.hasMore = page.has_more;
      earlier.hidden = !page.has_more;
      log.scrollTop = log.scrollHeight - fromBottom;
      return true;
    } catch (e) {
      toast(api.describe(e));
      return false;
    } finally {
      earlier.disabled = false;
    }
  }

  /** A room event (already deduplicated by seq in sync.js); what is not this thread's is ignored. */
  function apply(frame) {
    if (!current) return;
    if (current.loading) {
      current.pending.push(frame);
      return;
    }
    const stick = atBottom();
    const root = current.root;
    if (frame.type === "reaction") {
      if (root && frame.message_id === root.id) {
        if (applyReaction(root, frame)) drawRoot();
      } else {
        const entry = current.byId.get(frame.message_id);
        if (entry && applyReaction(entry.message, frame)) redraw(entry);
      }
    } else if (frame.type === "message_deleted") {
      if (root && frame.message_id === root.id) {
        Object.assign(root, { deleted: true, content: "", attachment: null, reactions: [] });
        drawRoot();
      } else {
        const entry = current.byId.get(frame.message_id);
        if (entry) upsert({ ...entry.message, deleted: true, content: "", attachment: null, reactions: [] });
      }
    } else if (frame.message.id === current.rootId) {
      // The root edited: the server's copy of it, summary and all.
      current.root = frame.message;
      drawRoot();
    } else if (frame.message.thread_root_id === current.rootId) {
      upsert(frame.message);
      if (frame.type === "message" && root && addReply(root, frame.message)) drawCount();
    } else {
      return;
    }
    if (stick || (frame.type === "message" && frame.message.author.id === state.me.id)) log.scrollTop = log.scrollHeight;
    maybeRead();
  }

  function drawRoot() {
    if (!current) return;
    const root = current.root;
    const el = root
      ? render(root, true)
      : h("p", { class: "muted" }, current.loading ? "Loading…" : "The message that started this thread could not be loaded.");
    fill(rootBox, el);
    current.rootEl = el;
    drawCount();
  }

  function drawCount() {
    const root = current && current.root;
    const replies = root && root.thread ? root.thread.reply_count : current ? current.byId.size : 0;
    count.textContent = replies ? `${replies} ${replies === 1 ? "reply" : "replies"}` : "No replies yet";
    form.hidden = !!(root && root.deleted);
  }

  function redraw(entry) {
    const el = render(entry.message, false);
    replaceKeepingFocus(entry.el, el, "[data-key=react]");
    entry.el = el;
  }

  /** Adds or replaces a reply, in seq order; the same reply twice is one element. */
  function upsert(message) {
    if (!current || message.thread_root_id !== current.rootId) return;
    const known = current.byId.get(message.id);
    if (known && known.message.updated_seq > message.updated_seq) return;
    const el = render(message, false);
    if (known) {
      replaceKeepingFocus(known.el, el, "[data-key=react]");
    } else {
      let after = list.lastElementChild;
      while (after && Number(after.dataset.seq) > message.seq) after = after.previousElementSibling;
      if (after) after.after(el);
      else list.prepend(el);
      if (current.oldestSeq === null || message.seq < current.oldestSeq) current.oldestSeq = message.seq;
    }
    current.byId.set(message.id, { message, el });
  }

  function render(message, isRoot) {
    const mine = message.author.id === state.me.id;
    const body = h("div", { class: "msg-body" });
    if (message.deleted) body.append(h("em", { class: "muted" }, "This message was deleted."));
    else if (message.content) {
      body.append(messageText(message.content, state.me.username).node);
      if (message.edited_at) body.append(h("span", { class: "edited muted", title: `edited ${formatTime(message.edited_at)}` }, " (edited)"));
    }
    const actions = message.deleted
      ? null
      : h(
          "div",
          { class: "msg-actions" },
          h("button", { class: "ghost small", dataset: { key: "react" }, "aria-label": "Add a reaction", title: "Add a reaction", onclick: () => react(message) }, "☺+"),
          mine && !isRoot ? h("button", { class: "ghost small", "aria-label": "Delete reply", onclick: () => remove(message) }, "Delete") : null,
        );
    return h(
      "article",
      {
        class: `msg${isRoot ? " root" : ""}${mine ? " mine" : ""}`,
        dataset: { id: message.id, seq: message.seq },
        "aria-label": `${isRoot ? "Thread started by " : ""}${message.author.username}, ${formatTime(message.created_at)}`,
      },
      h(
        "div",
        { class: "msg-head" },
        mine
          ? h("span", { class: "author" }, message.author.username)
          : h("button", { class: "author link", title: `Message ${message.author.username}`, onclick: () => onDm(message.author.id) }, message.author.username),
        h("time", { datetime: message.created_at }, formatTime(message.created_at)),
      ),
      body,
      !message.deleted && message.attachment ? thumbnail(message) : null,
      reactionBar(message, state.me, nameOf, (emoji, added) => onReact(message, emoji, added).catch((e) => toast(api.describe(e)))),
      actions,
    );
  }

  function nameOf(userId) {
    const user = state.users.get(userId);
    return user ? user.username : null;
  }

  function react(message) {
    pickReaction(
      (emoji) => onReact(message, emoji, true).catch((e) => Promise.reject(new Error(api.describe(e)))),
      () => {
        const el = current && (message.id === current.rootId ? current.rootEl : current.byId.get(message.id) && current.byId.get(message.id).el);
        const button = el && el.querySelector("[data-key=react]");
        if (button) button.focus();
      },
    );
  }

  async function remove(message) {
    if (!confirm("Delete this reply?")) return;
    try {
      await api.del(`/rooms/${message.room_id}/messages/${message.id}`);
      upsert({ ...message, deleted: true, content: "", attachment: null, reactions: [], updated_seq: Number.MAX_SAFE_INTEGER });
    } catch (e) {
      toast(api.describe(e));
    }
  }

  async function send() {
    const content = field.value;
    const at = current;
    if (!at || !content.trim()) return;
    field.value = "";
    grow();
    try {
      const reply = await onSend(at.room.id, at.rootId, content);
      if (current !== at) return;
      const stored = reply.thread_root_id === at.rootId && !at.byId.has(reply.id);
      upsert(reply);
      // The reply's own event may come after the ack: the count follows now, once.
      if (stored && at.root && addReply(at.root, reply)) drawCount();
      log.scrollTop = log.scrollHeight;
      maybeRead();
    } catch (e) {
      toast(api.describe(e));
      // Given back, unless something else was typed meanwhile.
      if (current === at && !field.value) field.value = content;
    }
  }

  function grow() {
    field.style.height = "auto";
    if (field.scrollHeight) field.style.height = `${Math.min(field.scrollHeight, 160)}px`;
  }

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }

  /** Whether what arrives in the open thread is being seen right now. */
  function isReading(rootId) {
    return !!current && current.rootId === rootId && !current.loading && log.getClientRects().length > 0 && document.visibilityState === "visible" && atBottom();
  }

  function maybeRead() {
    if (!current || !isReading(current.rootId)) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (!current || !isReading(current.rootId)) return;
      const newest = Math.max(0, ...[...current.byId.values()].map((e) => e.message.seq));
      if (newest > current.readSent) {
        current.readSent = newest;
        onRead(current.room.id, current.rootId, newest);
      }
    }, 250);
  }

  return { element: pane, open, close, reload, shown, apply, isReading, focus: () => field.focus() };
}
