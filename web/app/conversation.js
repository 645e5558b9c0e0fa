// The conversation: history with infinite scroll back, live events, the "new messages"
// line, edits and deletes, reactions, threads' summaries, typing and mentions; the composer
// sits under it. Replies in threads are not in the timeline: each updates its root's summary.
// Opened at a message (a search hit), it holds the history around it and loads newer pages
// as it is scrolled down, until it reaches the live end.
// (Over 400 lines: the timeline's rendering and its live updates share its DOM state.)

import * as api from "./api.js";
import { h, fill, formatTime, toast, replaceKeepingFocus, flash } from "./dom.js";
import { roomTitle } from "./state.js";
import { messageText } from "./message-text.js";
import { thumbnail } from "./attachment.js";
import { applyReaction, reactionBar, pickReaction } from "./reactions.js";
import { addReply, threadLink } from "./threading.js";

const PAGE = 50;

/**
 * The open room's timeline, drawn from `state`. `composer` is the message box's element,
 * placed under the timeline. Callbacks:
 * - `onShown(room, { focus })`: a room was opened here (the composer follows it);
 * - `onFocusComposer()`: an edit ended, typing goes back to the message box;
 * - `loadMembers(roomId)`: a promise of the room's member list (for its read marker);
 * - `onSeen(roomId)`: all of the room is on screen and seen (its unread count goes);
 * - `onRead(roomId, seq)`: our read marker moved to `seq`, to tell the server;
 * - `onLeave(room)`, `onDm(userId)`, `onPane(pane)` ("side": the members, on a phone);
 * - `onThread(root)`: open the thread of a top-level message;
 * - `onReact(message, emoji, added)`: add or remove our reaction (a promise; the change
 *   itself comes back as a `reaction` event).
 */
export function createConversation(state, { composer, onShown, onFocusComposer, loadMembers, onSeen, onRead, onLeave, onDm, onPane, onThread, onReact }) {
  const head = h("header", { class: "conv-head" });
  const sentinel = h("div", { class: "history-edge", "aria-hidden": "true" });
  const list = h("div", { class: "messages" });
  const timeline = h("div", { class: "timeline", role: "log", tabindex: "0", "aria-label": "Messages" }, sentinel, list);
  const latest = h("div", { class: "latest-bar", hidden: true },
    h("button", { class: "ghost small", onclick: () => current && load(current.room) }, "Jump to the newest messages"));
  const typingLine = h("div", { class: "typing", "aria-live": "polite" });
  const section = h("section", { class: "conversation", hidden: true, "aria-labelledby": "room-title" }, head, timeline, latest, typingLine, composer);

  /** The open room and what its timeline holds. */
  let current = null;
  let readTimer = null;

  timeline.addEventListener("scroll", () => {
    maybeRead();
    maybeNewer();
  }, { passive: true });
  document.addEventListener("visibilitychange", () => maybeRead());
  addEventListener("focus", () => maybeRead());
  const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadOlder(), {
    root: timeline,
    rootMargin: "400px 0px 0px 0px",
  });
  observer.observe(sentinel);

  function close() {
    section.hidden = true;
    current = null;
  }

  function header(room) {
    const isDm = room.kind === "dm";
    fill(
      head,
      h(
        "div",
        { class: "conv-title" },
        h("h1", { id: "room-title" }, isDm ? `@ ${roomTitle(room, state.me)}` : `# ${room.name}`),
        room.description ? h("p", { class: "muted" }, room.description) : null,
      ),
      h("div", { class: "spacer" }),
      membersToggle(room.member_count),
      isDm ? null : h("button", { class: "ghost leave", onclick: () => onLeave(room) }, "Leave"),
    );
  }

  /** On a phone: the members screen, as an icon and a count so the room's name keeps the room. */
  function membersToggle(count) {
    return h(
      "button",
      { class: "ghost members-toggle", "aria-label": `Members (${count})`, title: "Members", onclick: () => onPane("side") },
      h("span", { class: "people-icon", "aria-hidden": "true" }),
      h("span", { class: "count", "aria-hidden": "true" }, String(count)),
    );
  }

  function setMemberCount(count) {
    const toggle = head.querySelector(".members-toggle");
    if (toggle) toggle.replaceWith(membersToggle(count));
  }

  /** Shows `room`: its newest messages, or with `around` (a message: `{id, seq}`) those around it, marked. */
  function open(room, { focus = true, around = null } = {}) {
    section.hidden = false;
    header(room);
    typingLine.textContent = "";
    onShown(room, { focus: focus && !around });
    return load(room, around);
  }

  /** The room's history into a fresh timeline: its newest page, or the page around a message. */
  async function load(room, around = null) {
    // The page ending 25 seqs past the message (replies and reactions take seqs too, so it
    // often holds fewer after it). Newer messages exist if that ends before the room's newest event.
    const before = around ? around.seq + 26 : null;
    const generation = {
      room,
      byId: new Map(),
      oldestSeq: null,
      hasMore: true,
      hasNewer: before !== null && before <= (room.seq ?? room.last_seq),
      loading: true,
      olderLoading: false,
      newerLoading: false,
      pending: [],
      readSent: 0,
      typers: new Map(),
    };
    current = generation;
    list.replaceChildren();
    sentinel.textContent = "";
    latest.hidden = !generation.hasNewer;
    try {
      const [page, roster] = await Promise.all([
        api.get(`/rooms/${room.id}/messages?${before ? `before=${before}&` : ""}limit=${PAGE}`),
        loadMembers(room.id),
      ]);
      if (current !== generation) return;
      const mine = roster.get(state.me.id);
      const lastRead = mine ? mine.last_read_seq : room.last_seq;
      generation.hasMore = page.has_more;
      if (!page.has_more) sentinel.textContent = "This is the beginning of the room.";
      for (const message of page.items) upsert(message);
      generation.loading = false;
      for (const frame of generation.pending) apply(frame);
      generation.pending = [];
      // Away from the end, the first unread message may be before the page: no line then.
      const firstUnread = around
        ? null
        : [...generation.byId.values()]
            .map((entry) => entry.message)
            .find((message) => message.seq > lastRead && message.author.id !== state.me.id && !message.deleted);
      if (around) {
        const target = generation.byId.get(around.id);
        if (target) flash(target.el);
        else toast("That message is no longer in the room.");
      } else if (firstUnread) {
        const line = h("div", { class: "new-line", role: "separator", "aria-label": "New messages" }, h("span", {}, "New messages"));
        generation.byId.get(firstUnread.id).el.before(line);
        line.scrollIntoView({ block: "center" });
      } else {
        scrollToBottom();
      }
      maybeRead();
      maybeNewer();
      // A short first page may not fill the screen: keep loading until it does.
      if (generation.hasMore && timeline.scrollHeight <= timeline.clientHeight) loadOlder();
    } catch (e) {
      if (current === generation) toast(api.describe(e));
    }
  }

  /** History from scratch (after a replay too large for the socket). */
  function reload() {
    if (current) load(current.room);
  }

  async function loadOlder() {
    const at = current;
    if (!at || at.loading || at.olderLoading || !at.hasMore || at.oldestSeq === null) return;
    at.olderLoading = true;
    sentinel.textContent = "Loading earlier messages…";
    try {
      const page = await api.get(`/rooms/${at.room.id}/messages?before=${at.oldestSeq}&limit=${PAGE}`);
      if (current !== at) return;
      const fromBottom = timeline.scrollHeight - timeline.scrollTop;
      for (const message of page.items) upsert(message);
      at.hasMore = page.has_more;
      timeline.scrollTop = timeline.scrollHeight - fromBottom;
    } catch (e) {
      toast(api.describe(e));
    } finally {
      at.olderLoading = false;
      sentinel.textContent = at.hasMore ? "" : "This is the beginning of the room.";
    }
    // Still at the top (a tall screen): the observer will not fire again by itself.
    if (current === at && at.hasMore && timeline.scrollTop < 400) requestAnimationFrame(loadOlder);
  }

  /** The page after the newest message held, in a timeline opened away from the end. */
  async function loadNewer() {
    const at = current;
    if (!at || at.loading || at.newerLoading || !at.hasNewer) return;
    at.newerLoading = true;
    let loaded = false;
    try {
      const newest = Math.max(0, ...[...at.byId.values()].map((e) => e.message.seq));
      const page = await api.get(`/rooms/${at.room.id}/messages?after=${newest}&limit=${PAGE}`);
      if (current === at) {
        for (const message of page.items) upsert(message);
        at.hasNewer = page.has_more;
        loaded = true;
      }
    } catch (e) {
      if (current === at) toast(api.describe(e));
    }
    at.newerLoading = false;
    if (current !== at) return;
    latest.hidden = !at.hasNewer;
    // Events that came meanwhile: at the live end now, new messages join the timeline.
    const queued = at.pending;
    at.pending = [];
    for (const frame of queued) apply(frame);
    maybeRead();
    // Still near the bottom (a tall screen): no scroll will ask again. After a failure, the next scroll does.
    if (loaded) requestAnimationFrame(maybeNewer);
  }

  /** Away from the end, the next page when the bottom is near (400 px). */
  function maybeNewer() {
    if (current && current.hasNewer && timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 400) loadNewer();
  }

  /** A room event for the open room (already deduplicated by seq in sync.js). */
  function apply(frame) {
    if (!current) return;
    if (current.loading || current.newerLoading) {
      current.pending.push(frame);
      return;
    }
    const stick = atBottom();
    if (frame.type === "reaction") {
      const entry = current.byId.get(frame.message_id);
      if (entry && applyReaction(entry.message, frame)) redraw(entry);
      if (stick) scrollToBottom();
      return;
    }
    if (frame.message && frame.message.thread_root_id) {
      // A reply: not in the timeline, but its root's summary counts it.
      const root = current.byId.get(frame.message.thread_root_id);
      if (frame.type === "message" && root && addReply(root.message, frame.message)) redraw(root);
      if (stick) scrollToBottom();
      return;
    }
    // Away from the end, a message not held is past it: it comes with the page that holds it.
    if (current.hasNewer && frame.type !== "message_deleted" && !current.byId.has(frame.message.id)) return;
    if (frame.type === "message_deleted") {
      const entry = current.byId.get(frame.message_id);
      if (entry) upsert({ ...entry.message, deleted: true, content: "", attachment: null });
    } else {
      upsert(frame.message);
      if (frame.type === "message") current.typers.delete(frame.message.author.id);
      renderTyping();
    }
    if (stick || (frame.message && frame.message.author.id === state.me.id && frame.type === "message")) scrollToBottom();
    maybeRead();
  }

  /** Draws a message again after a change to it here (its reactions, its thread's summary). */
  function redraw(entry) {
    const el = render(entry.message);
    replaceKeepingFocus(entry.el, el, "[data-key=react]");
    entry.el = el;
    regroup(el);
  }

  /** Adds or replaces a message, in seq order; the same message twice is one element. */
  function upsert(message) {
    if (!current || message.room_id !== current.room.id || message.thread_root_id) return;
    const known = current.byId.get(message.id);
    if (known && known.message.updated_seq > message.updated_seq) return;
    if (message.client_msg_id) {
      const pending = list.querySelector(`[data-pending="${CSS.escape(message.client_msg_id)}"]`);
      if (pending) pending.remove();
    }
    const el = render(message);
    if (known) {
      replaceKeepingFocus(known.el, el, "[data-key=react]");
    } else {
      let after = list.lastElementChild;
      while (after && (after.dataset.pending || Number(after.dataset.seq) > message.seq || !after.dataset.seq)) {
        after = after.previousElementSibling;
      }
      if (after) after.after(el);
      else list.prepend(el);
      if (current.oldestSeq === null || message.seq < current.oldestSeq) current.oldestSeq = message.seq;
    }
    current.byId.set(message.id, { message, el });
    regroup(el);
    if (el.nextElementSibling) regroup(el.nextElementSibling);
  }

  /** Consecutive messages by one author within five minutes share a header. */
  function regroup(el) {
    if (!el || !el.dataset.author) return;
    let prev = el.previousElementSibling;
    const sameAuthor =
      prev &&
      prev.dataset.author === el.dataset.author &&
      Number(el.dataset.time) - Number(prev.dataset.time) < 5 * 60_000;
    el.classList.toggle("continued", !!sameAuthor);
  }

  function render(message) {
    const mine = message.author.id === state.me.id;
    const body = h("div", { class: "msg-body" });
    let mentionsMe = false;
    if (message.deleted) {
      body.append(h("em", { class: "muted" }, "This message was deleted."));
    } else if (message.content) {
      const rendered = messageText(message.content, state.me.username);
      mentionsMe = rendered.mentionsMe;
      body.append(rendered.node);
      if (message.edited_at) body.append(h("span", { class: "edited muted", title: `edited ${formatTime(message.edited_at)}` }, " (edited)"));
    }
    const attachment = !message.deleted && message.attachment ? thumbnail(message) : null;
    const actions = message.deleted
      ? null
      : h(
          "div",
          { class: "msg-actions" },
          h("button", { class: "ghost small", dataset: { key: "react" }, "aria-label": "Add a reaction", title: "Add a reaction", onclick: () => react(message) }, "☺+"),
          h("button", { class: "ghost small", dataset: { key: "reply" }, "aria-label": "Reply in a thread", title: "Reply in a thread", onclick: () => onThread(message) }, "Reply"),
          mine && message.content ? h("button", { class: "ghost small", "aria-label": "Edit message", onclick: () => edit(message) }, "Edit") : null,
          mine ? h("button", { class: "ghost small", "aria-label": "Delete message", onclick: () => remove(message) }, "Delete") : null,
        );
    const reactions = reactionBar(message, state.me, nameOf, (emoji, added) => toggle(message, emoji, added));
    const thread = threadLink(message.thread, () => onThread(message));
    return h(
      "article",
      {
        class: `msg${mine ? " mine" : ""}${mentionsMe ? " mentions-me" : ""}`,
        dataset: { id: message.id, seq: message.seq, author: message.author.id, time: new Date(message.created_at).getTime() },
        "aria-label": `${message.author.username}, ${formatTime(message.created_at)}`,
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
      attachment,
      reactions,
      thread ? h("div", { class: "thread-summary" }, thread) : null,
      actions,
    );
  }

  function nameOf(userId) {
    const user = state.users.get(userId);
    return user ? user.username : null;
  }

  function toggle(message, emoji, added) {
    onReact(message, emoji, added).catch((e) => toast(api.describe(e)));
  }

  /** The picker, for a reaction of our own to `message`; the focus comes back to its button. */
  function react(message) {
    pickReaction(
      (emoji) => onReact(message, emoji, true).catch((e) => Promise.reject(new Error(api.describe(e)))),
      () => {
        const entry = current && current.byId.get(message.id);
        const button = entry && entry.el.querySelector("[data-key=react]");
        if (button) button.focus();
      },
    );
  }

  function edit(message) {
    const entry = current && current.byId.get(message.id);
    if (!entry) return;
    const body = entry.el.querySelector(".msg-body");
    const field = h("textarea", { class: "edit-field", "aria-label": "Edit message", rows: 2, value: message.content });
    const save = async () => {
      const content = field.value;
      if (!content.trim() || content === message.content) return cancel();
      try {
        upsert(await api.patch(`/rooms/${message.room_id}/messages/${message.id}`, { content }));
      } catch (e) {
        toast(api.describe(e));
      }
    };
    const cancel = () => {
      const fresh = current && current.byId.get(message.id);
      if (fresh) fresh.el.replaceWith((fresh.el = render(fresh.message)));
      onFocusComposer();
    };
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        save();
      } else if (event.key === "Escape") {
        event.preventDefault();
        cancel();
      }
    });
    fill(body, field, h("div", { class: "muted small" }, "Enter to save · Escape to cancel"));
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  }

  /** The newest own message, for ArrowUp in an empty composer. */
  function editLast() {
    if (!current) return;
    const own = [...current.byId.values()].filter((e) => e.message.author.id === state.me.id && !e.message.deleted && e.message.content);
    own.sort((a, b) => a.message.seq - b.message.seq);
    if (own.length) edit(own[own.length - 1].message);
  }

  async function remove(message) {
    if (!confirm("Delete this message?")) return;
    try {
      await api.del(`/rooms/${message.room_id}/messages/${message.id}`);
      // Nothing comes after a delete: no later version can be newer than this one.
      upsert({ ...message, deleted: true, content: "", attachment: null, updated_seq: Number.MAX_SAFE_INTEGER });
    } catch (e) {
      toast(api.describe(e));
    }
  }

  /** Our own message, as stored. Away from the end, the end is loaded (with it) instead. */
  function posted(message) {
    if (!current || message.room_id !== current.room.id) return;
    if (current.hasNewer && !current.byId.has(message.id)) load(current.room);
    else upsert(message);
  }

  /** An own message shown at once, replaced by the real one when it is stored. */
  function showPending(roomId, clientMsgId, content, retry) {
    if (!current || current.room.id !== roomId) return;
    // Sent from a timeline away from the end: the end is loaded, under the pending copy.
    if (current.hasNewer) load(current.room);
    let el = list.querySelector(`[data-pending="${CSS.escape(clientMsgId)}"]`);
    const failed = retry !== undefined;
    const fresh = h(
      "article",
      { class: `msg mine pending${failed ? " failed" : ""}`, dataset: { pending: clientMsgId } },
      h("div", { class: "msg-head" }, h("span", { class: "author" }, state.me.username), h("span", { class: "muted" }, failed ? "not sent" : "sending…")),
      h("div", { class: "msg-body" }, content),
      failed ? h("div", { class: "msg-actions visible" }, h("button", { class: "ghost small", onclick: retry }, "Retry")) : null,
    );
    if (el) el.replaceWith(fresh);
    else list.append(fresh);
    scrollToBottom();
  }

  function dropPending(clientMsgId) {
    const el = list.querySelector(`[data-pending="${CSS.escape(clientMsgId)}"]`);
    if (el) el.remove();
  }

  function atBottom() {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 48;
  }

  function scrollToBottom() {
    timeline.scrollTop = timeline.scrollHeight;
  }

  /** Whether what arrives in the open room is being seen right now. */
  function isReading() {
    return !!current && !current.hasNewer && !section.hidden && document.visibilityState === "visible" && atBottom();
  }

  function maybeRead() {
    if (!isReading() || current.loading) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (!isReading()) return;
      const newest = Math.max(0, ...[...current.byId.values()].map((e) => e.message.seq));
      onSeen(current.room.id);
      if (newest > current.readSent) {
        current.readSent = newest;
        onRead(current.room.id, newest);
      }
    }, 250);
  }

  function typing(frame) {
    if (!current || frame.room_id !== current.room.id || frame.user.id === state.me.id) return;
    const typers = current.typers;
    clearTimeout(typers.get(frame.user.id) && typers.get(frame.user.id).timer);
    if (frame.active) {
      const timer = setTimeout(() => {
        typers.delete(frame.user.id);
        renderTyping();
      }, 6500);
      typers.set(frame.user.id, { name: frame.user.username, timer });
    } else {
      typers.delete(frame.user.id);
    }
    renderTyping();
  }

  function renderTyping() {
    if (!current) return;
    const names = [...current.typers.values()].map((t) => t.name);
    typingLine.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
  }

  /** The message of `id` if the timeline holds it (a thread's root, say), else null. */
  function message(id) {
    const entry = current && current.byId.get(id);
    return entry ? entry.message : null;
  }

  return { element: section, open, close, header, setMemberCount, reload, apply, posted, message, editLast, showPending, dropPending, isReading, typing };
}
