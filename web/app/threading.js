// A thread's summary on its root message: kept current from the replies that arrive (the
// server sends no second event for the root), and drawn as the "N replies" link.

import { h, formatTime } from "./dom.js";

/** An RFC 3339 time as a string that sorts in time order, to the nanosecond (Date has ms). */
function instant(iso) {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(?:Z|[+-]00:00)$/.exec(iso || "");
  if (match) return `${match[1]}.${(match[2] || "").padEnd(9, "0")}`;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString().replace("Z", "000000");
}

/**
 * Counts `reply` into its root's `thread` summary, as the server derives it: one more reply,
 * its time the last, its author first among the participants (at most 5). A reply no newer
 * than the summary's last one is already in it (the root was fetched after it was posted), so
 * a reply is counted once however the two reached this client. Whether the summary changed.
 */
export function addReply(root, reply) {
  const thread = root.thread;
  if (thread && thread.last_reply_at && instant(reply.created_at) <= instant(thread.last_reply_at)) return false;
  const author = { id: reply.author.id, username: reply.author.username };
  const others = ((thread && thread.participants) || []).filter((p) => p.id !== author.id);
  root.thread = {
    reply_count: ((thread && thread.reply_count) || 0) + 1,
    last_reply_at: reply.created_at,
    participants: [author, ...others].slice(0, 5),
  };
  return true;
}

/** A person's initial in a round badge (no pictures: the API has none). */
export function avatar(user) {
  return h("span", { class: "avatar", title: user.username, "aria-hidden": "true" }, [...user.username][0].toUpperCase());
}

function names(list) {
  return list.length <= 1 ? list.join("") : `${list.slice(0, -1).join(", ")} and ${list.at(-1)}`;
}

/** "3 replies", the last reply's time and who took part, as a button that opens the thread; null without replies. */
export function threadLink(thread, onOpen) {
  if (!thread || !thread.reply_count) return null;
  const count = `${thread.reply_count} ${thread.reply_count === 1 ? "reply" : "replies"}`;
  const who = names(thread.participants.map((p) => p.username));
  return h(
    "button",
    {
      type: "button",
      class: "thread-link",
      "aria-label": `${count}, the last at ${formatTime(thread.last_reply_at)}${who ? `, from ${who}` : ""}: open the thread`,
      onclick: onOpen,
    },
    h("span", { class: "avatars" }, thread.participants.map(avatar)),
    h("strong", {}, count),
    h("span", { class: "muted small" }, `Last reply ${formatTime(thread.last_reply_at)}`),
  );
}
