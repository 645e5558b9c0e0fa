// Reactions: a message's chips (emoji and count, yours marked, who reacted on hover or a
// long press), the picker that adds one, and a `reaction` event applied to a message.

import { h, toast } from "./dom.js";

/** The picker's emoji, with the names a screen reader says. */
const COMMON = [
  ["👍", "thumbs up"],
  ["❤️", "heart"],
  ["😂", "tears of joy"],
  ["🎉", "party popper"],
  ["😮", "surprised"],
  ["😢", "crying"],
  ["👀", "eyes"],
  ["✅", "check mark"],
];
const SHORTCODE = /^:[a-z0-9_+-]{1,32}:$/;
/** How long a touch must rest on a chip to show who reacted instead of toggling. */
const LONG_PRESS_MS = 550;

/**
 * Applies a `reaction` event to `message.reactions`; whether it changed anything. Events
 * come once each (by seq, in sync.js), but the message may have been fetched after the
 * change it carries: a user already listed is not added again, nor one not listed removed
 * (while the list is complete, that is below 20 people).
 */
export function applyReaction(message, frame) {
  const reactions = message.reactions || (message.reactions = []);
  const at = reactions.findIndex((r) => r.emoji === frame.emoji);
  const entry = reactions[at];
  if (frame.added) {
    if (!entry) {
      reactions.push({ emoji: frame.emoji, count: 1, user_ids: [frame.user_id] });
      return true;
    }
    if (entry.user_ids.includes(frame.user_id)) return false;
    entry.count += 1;
    if (entry.user_ids.length < 20) entry.user_ids.push(frame.user_id);
    return true;
  }
  if (!entry) return false;
  const listed = entry.user_ids.indexOf(frame.user_id);
  if (listed < 0 && entry.user_ids.length >= entry.count) return false;
  if (listed >= 0) entry.user_ids.splice(listed, 1);
  entry.count -= 1;
  if (entry.count <= 0) reactions.splice(at, 1);
  return true;
}

/** Whether `text` is something the server takes: one emoji (at most 32 bytes) or a `:shortcode:`. */
export function validEmoji(text) {
  if (text.startsWith(":")) return SHORTCODE.test(text);
  const graphemes = [...new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)];
  return graphemes.length === 1 && new TextEncoder().encode(text).length <= 32 && /[^\x00-\x7f]/.test(text);
}

function names(list) {
  return list.length <= 1 ? list.join("") : `${list.slice(0, -1).join(", ")} and ${list.at(-1)}`;
}

/**
 * The chips under `message`, or null when it has none. `me` is the user; `nameOf(userId)`
 * a name for a user id (or null when unknown); `onToggle(emoji, added)` adds or removes
 * yours. Beyond the first 20 people the server does not list who reacted, so a chip may
 * not know that you are among them (then a click adds yours, which changes nothing).
 */
export function reactionBar(message, me, nameOf, onToggle) {
  const reactions = message.deleted ? [] : message.reactions || [];
  if (!reactions.length) return null;
  return h(
    "div",
    { class: "reactions", role: "group", "aria-label": "Reactions" },
    reactions.map((reaction) => {
      const mine = reaction.user_ids.includes(me.id);
      const who = reaction.user_ids.map((id) => (id === me.id ? "you" : nameOf(id) || "someone"));
      const more = reaction.count - who.length;
      const said = `${names(more > 0 ? [...who, `${more} more`] : who)}`;
      const chip = h(
        "button",
        {
          type: "button",
          class: "reaction",
          dataset: { key: `reaction ${reaction.emoji}` },
          "aria-pressed": mine ? "true" : "false",
          "aria-label": `${reaction.emoji} ${reaction.count}: ${said}`,
          title: `${said} reacted with ${reaction.emoji}`,
        },
        h("span", { class: "emoji" }, reaction.emoji),
        h("span", { class: "count" }, String(reaction.count)),
      );
      longPress(chip, () => toast(`${said} reacted with ${reaction.emoji}`, "info"), () => onToggle(reaction.emoji, !mine));
      return chip;
    }),
  );
}

/** `onPress` after a touch held still, `onClick` for any other activation (mouse, keys, a tap). */
function longPress(el, onPress, onClick) {
  let timer = null;
  let pressed = false;
  const cancel = () => clearTimeout(timer);
  el.addEventListener("pointerdown", (event) => {
    pressed = false;
    if (event.pointerType !== "touch") return;
    timer = setTimeout(() => {
      pressed = true;
      onPress();
    }, LONG_PRESS_MS);
  });
  for (const type of ["pointerup", "pointercancel", "pointerleave"]) el.addEventListener(type, cancel);
  // A long press would open the browser's own menu on some phones.
  el.addEventListener("contextmenu", (event) => pressed && event.preventDefault());
  el.addEventListener("click", () => {
    if (pressed) pressed = false;
    else onClick();
  });
}

/**
 * The "add a reaction" dialog: common emoji, and a field for any other emoji or a
 * `:shortcode:`. `onChoose(emoji)` returns a promise; a refusal is shown in the dialog, which
 * stays open. `onClosed()` when it closes (to put the focus back).
 */
export function pickReaction(onChoose, onClosed) {
  const error = h("p", { class: "form-error", role: "alert" });
  const field = h("input", { name: "emoji", autocomplete: "off", maxlength: 40, placeholder: ":shortcode: or an emoji" });
  const choose = async (emoji) => {
    error.textContent = "";
    try {
      await onChoose(emoji);
      dlg.close();
    } catch (e) {
      error.textContent = e.message || String(e);
    }
  };
  const form = h(
    "form",
    { class: "stack" },
    h("label", { class: "field" }, h("span", {}, "Another emoji or a :shortcode:"), field),
    error,
    h("button", { class: "ghost", type: "submit" }, "Add"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = field.value.trim();
    if (!validEmoji(text)) {
      error.textContent = "Type one emoji, or a shortcode such as :tada: (a to z, 0 to 9, _ + -, between colons).";
      return;
    }
    choose(text);
  });
  const grid = h(
    "div",
    { class: "emoji-grid", role: "group", "aria-label": "Common reactions" },
    COMMON.map(([emoji, name]) => h("button", { type: "button", class: "emoji-choice", "aria-label": name, title: name, onclick: () => choose(emoji) }, emoji)),
  );
  const dlg = h(
    "dialog",
    { class: "dialog picker", "aria-labelledby": "picker-title" },
    h("div", { class: "dialog-head" }, h("h2", { id: "picker-title" }, "Add a reaction"),
      h("button", { class: "icon", type: "button", "aria-label": "Close", onclick: () => dlg.close() }, "×")),
    grid,
    form,
  );
  dlg.addEventListener("close", () => {
    dlg.remove();
    onClosed();
  });
  document.body.append(dlg);
  dlg.showModal();
  grid.querySelector("button").focus();
  return dlg;
}
