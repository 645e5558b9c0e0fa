// The message box: Enter sends, Shift+Enter is a newline, @ autocompletes members, and
// images come in by the button, drag-and-drop or paste, with upload progress.

import * as api from "./api.js";
import { h, toast, uid } from "./dom.js";
import { roomTitle } from "./state.js";

const ACCEPTED = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const MAX_BYTES = 10 * 1024 * 1024;

/**
 * The message box of the room given to `reset(room)`; it posts over REST itself. Callbacks:
 * `onPending(roomId, clientMsgId, content, retry)` (a message shown at once, with a `retry`
 * when it failed), `onPosted(message)` (as stored), `onEditLast()` (ArrowUp in an empty box).
 */
export function createComposer(state, { onPending, onPosted, onEditLast }) {
  const field = h("textarea", {
    class: "composer-field",
    rows: 1,
    "aria-label": "Message",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": "mention-list",
    placeholder: "Message",
    maxlength: 4000,
  });
  const picker = h("input", { type: "file", accept: ACCEPTED.join(","), class: "visually-hidden", tabindex: "-1", "aria-hidden": "true", multiple: true });
  const suggestions = h("ul", { id: "mention-list", class: "mentions-list", role: "listbox", "aria-label": "Members to mention", hidden: true });
  const uploads = h("div", { class: "uploads", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "composer" },
    suggestions,
    uploads,
    h(
      "div",
      { class: "composer-row" },
      h("button", { type: "button", class: "icon attach", "aria-label": "Attach an image", title: "Attach an image", onclick: () => picker.click() }, "+"),
      picker,
      field,
      h("button", { type: "submit", class: "primary send" }, "Send"),
    ),
    h("p", { class: "hint muted" }, "Enter to send · Shift+Enter for a new line · drop or paste an image"),
  );

  /** The room the box posts to. */
  let room = null;
  let typingSentAt = 0;
  /** The @mention suggestions shown, and the one picked by the arrow keys. */
  let choices = [];
  let active = -1;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  field.addEventListener("keydown", keydown);
  field.addEventListener("input", () => {
    grow();
    suggest();
    typingNow(field.value.trim().length > 0);
  });
  field.addEventListener("blur", () => {
    setTimeout(closeSuggestions, 150);
    typingNow(false);
  });
  field.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData ? event.clipboardData.files : [])];
    if (files.length) {
      event.preventDefault();
      files.forEach(sendImage);
    }
  });
  picker.addEventListener("change", () => {
    [...picker.files].forEach(sendImage);
    picker.value = "";
  });

  /** Drag-and-drop onto the whole conversation. */
  function acceptDrops(zone) {
    let depth = 0;
    zone.addEventListener("dragenter", (event) => {
      if (![...event.dataTransfer.types].includes("Files")) return;
      depth += 1;
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dropping");
    });
    zone.addEventListener("dragover", (event) => {
      if ([...event.dataTransfer.types].includes("Files")) event.preventDefault();
    });
    zone.addEventListener("drop", (event) => {
      depth = 0;
      zone.classList.remove("dropping");
      const files = [...event.dataTransfer.files];
      if (!files.length) return;
      event.preventDefault();
      files.forEach(sendImage);
    });
  }

  function reset(next) {
    if (room && room.id !== (next && next.id)) typingNow(false);
    room = next;
    field.value = "";
    const where = next.kind === "dm" ? `@${roomTitle(next, state.me)}` : `#${next.name}`;
    field.setAttribute("aria-label", `Message ${where}`);
    field.placeholder = `Message ${where}`;
    grow();
    closeSuggestions();
  }

  function focus() {
    if (matchMedia("(min-width: 800px)").matches) field.focus();
  }

  function grow() {
    field.style.height = "auto";
    // Hidden (a phone showing the room list): nothing to measure, keep the natural height.
    if (field.scrollHeight) field.style.height = `${Math.min(field.scrollHeight, 200)}px`;
  }

  function keydown(event) {
    if (!suggestions.hidden && choices.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
        renderSuggestions();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        choose(choices[Math.max(0, active)]);
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        closeSuggestions();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === "ArrowUp" && !field.value) {
      event.preventDefault();
      onEditLast();
    }
  }

  function typingNow(on) {
    if (!room || !state.socket) return;
    const now = Date.now();
    if (on && now - typingSentAt > 3000) {
      // Not sent (the socket is between connections): the next keystroke tries again.
      if (state.socket.send({ type: "typing", room_id: room.id, active: true })) typingSentAt = now;
    } else if (!on && typingSentAt) {
      typingSentAt = 0;
      state.socket.send({ type: "typing", room_id: room.id, active: false });
    }
  }

  function send() {
    const content = field.value;
    if (!room || !content.trim()) return;
    field.value = "";
    grow();
    closeSuggestions();
    typingNow(false);
    post(room.id, { content, client_msg_id: uid() });
  }

  /** Posts over REST with a client_msg_id, so a retry can never store it twice. */
  async function post(roomId, body) {
    if (body.content) onPending(roomId, body.client_msg_id, body.content);
    try {
      const message = await api.post(`/rooms/${roomId}/messages`, body);
      onPosted(message);
    } catch (e) {
      if (body.content) onPending(roomId, body.client_msg_id, body.content, () => post(roomId, body));
      toast(api.describe(e));
    }
  }

  function size(bytes) {
    return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
  }

  /** Checks, uploads with progress, then posts the image message. */
  async function sendImage(file) {
    if (!room) return;
    const name = file.name || "The pasted image";
    if (file.type && !ACCEPTED.includes(file.type)) {
      toast(`${name} cannot be sent: only PNG, JPEG, GIF and WebP images are supported.`);
      return;
    }
    if (file.size > MAX_BYTES) {
      toast(`${name} is ${size(file.size)}: images can be at most ${size(MAX_BYTES)}.`);
      return;
    }
    const target = room.id;
    const controller = new AbortController();
    const bar = h("progress", { max: 1, value: 0, "aria-label": `Uploading ${name}` });
    const item = h("div", { class: "upload" }, h("span", { class: "upload-name" }, name), bar,
      h("button", { type: "button", class: "ghost small", onclick: () => controller.abort() }, "Cancel"));
    uploads.append(item);
    try {
      const attachment = await api.upload(file, (fraction) => (bar.value = fraction), controller.signal);
      item.remove();
      await post(target, { upload_id: attachment.id, client_msg_id: uid() });
    } catch (e) {
      item.remove();
      const why =
        e.status === 413 ? `${name} is too large for this server.` :
        e.status === 415 ? `${name} is not a supported image (PNG, JPEG, GIF or WebP).` :
        e.status === 422 ? `${name} could not be read as an image: ${e.message}` :
        api.describe(e);
      toast(why);
    }
  }

  function mentionQuery() {
    const before = field.value.slice(0, field.selectionStart);
    const match = before.match(/(^|\s)@([A-Za-z0-9_.-]{0,32})$/);
    return match ? { query: match[2], start: before.length - match[2].length - 1 } : null;
  }

  function suggest() {
    const found = mentionQuery();
    // The room's member list once it has been loaded (the conversation asks for it).
    const roster = room && state.members.get(room.id);
    if (!found || !roster) return closeSuggestions();
    const query = found.query.toLowerCase();
    choices = [...roster.values()]
      .map((member) => member.user.username)
      .filter((name) => name !== state.me.username && name.toLowerCase().startsWith(query))
      .sort()
      .slice(0, 6);
    active = choices.length ? 0 : -1;
    renderSuggestions();
  }

  function renderSuggestions() {
    suggestions.replaceChildren(
      ...choices.map((name, n) =>
        h("li", {
          id: `mention-${n}`,
          role: "option",
          class: n === active ? "active" : "",
          "aria-selected": n === active ? "true" : "false",
          onmousedown: (event) => {
            event.preventDefault();
            choose(name);
          },
        }, `@${name}`),
      ),
    );
    suggestions.hidden = !choices.length;
    field.setAttribute("aria-expanded", String(!suggestions.hidden));
    if (active >= 0 && choices.length) field.setAttribute("aria-activedescendant", `mention-${active}`);
    else field.removeAttribute("aria-activedescendant");
  }

  function choose(name) {
    const found = mentionQuery();
    if (!found) return closeSuggestions();
    const end = field.selectionStart;
    field.value = `${field.value.slice(0, found.start)}@${name} ${field.value.slice(end)}`;
    const caret = found.start + name.length + 2;
    field.setSelectionRange(caret, caret);
    closeSuggestions();
    field.focus();
  }

  function closeSuggestions() {
    choices = [];
    active = -1;
    suggestions.hidden = true;
    suggestions.replaceChildren();
    field.setAttribute("aria-expanded", "false");
    field.removeAttribute("aria-activedescendant");
  }

  return { element: form, reset, focus, acceptDrops };
}
