// A small DOM builder: every text goes in through textContent, never innerHTML.

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "Close"}, "text", child)
 * Props: `class`, `text`, `dataset` (object), `on<event>` handlers, boolean attributes
 * (true sets, false/null/undefined omits), anything else as an attribute.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Replaces `old` by `fresh` (a redrawn message, say) without losing the keyboard's place:
 * when focus was inside `old` on an element with a `data-key`, it moves to the element with
 * the same key in `fresh`, or to `fallback` (a selector) there when that one is gone.
 */
export function replaceKeepingFocus(old, fresh, fallback) {
  const active = document.activeElement;
  const key = active && old.contains(active) ? active.dataset.key || "" : null;
  old.replaceWith(fresh);
  if (key === null) return;
  const same = key && fresh.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const target = same || (fallback && fresh.querySelector(fallback));
  if (target) target.focus();
}

/**
 * A message jumped to (from a search hit): scrolled to the middle, marked for a few seconds
 * (the `flash` class) and focused, so the keyboard and a screen reader start from it.
 */
export function flash(el) {
  el.tabIndex = -1;
  el.scrollIntoView({ block: "center" });
  el.focus({ preventScroll: true });
  el.classList.add("flash");
  setTimeout(() => el.classList.remove("flash"), 3000);
}

/** A random id for `client_msg_id` (safe retries). */
export function uid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

export function formatTime(iso) {
  const date = new Date(iso);
  const today = new Date();
  return date.toDateString() === today.toDateString() ? clock.format(date) : day.format(date);
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [["second", 60], ["minute", 60], ["hour", 24], ["day", 30], ["month", 12], ["year", Infinity]];
  let value = seconds;
  for (const [unit, size] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

/** A transient message under the top bar (clear of the message box), read out by screen readers. */
export function toast(text, kind = "error") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  region.append(item);
  setTimeout(() => item.remove(), 6000);
}
