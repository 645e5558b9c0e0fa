// The colour pairs of web/app/app.css that carry text or mark a control, in both themes,
// against WCAG 2.2 AA: 4.5:1 for text, 3:1 for large text and the parts of controls.
// Reads the custom properties from the stylesheet itself, so a changed colour is checked.
// Prints every pair; exits non-zero when one falls short.
//
//   node web/tests/contrast.mjs

import { readFileSync } from "node:fs";

const css = readFileSync(new URL("../app/app.css", import.meta.url), "utf8");

function properties(block) {
  const out = {};
  for (const [, name, value] of block.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;/g)) out[name] = value;
  return out;
}
const light = properties(css.slice(css.indexOf(":root {"), css.indexOf("}", css.indexOf(":root {"))));
const darkAt = css.indexOf("@media (prefers-color-scheme: dark)");
const dark = { ...light, ...properties(css.slice(darkAt, css.indexOf("}\n}", darkAt))) };

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const toHex = (c) => "#" + c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
/** `color-mix(in srgb, a p%, b)`, as the stylesheet uses for the row that mentions you. */
const mix = (a, p, b) => toHex(rgb(a).map((v, i) => v * p + rgb(b)[i] * (1 - p)));
function luminance(hex) {
  const [r, g, b] = rgb(hex).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function ratio(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const TEXT = 4.5;
const UI = 3;
// [what, foreground, background, minimum]
const pairs = (t) => [
  ["text on the page", t.fg, t.bg, TEXT],
  ["text on the side columns", t.fg, t["bg-soft"], TEXT],
  ["text on a hovered row", t.fg, t["bg-hover"], TEXT],
  ["text on the open room", t.fg, t["bg-active"], TEXT],
  ["muted text on the page", t["fg-soft"], t.bg, TEXT],
  ["muted text on the side columns", t["fg-soft"], t["bg-soft"], TEXT],
  ["muted text on a hovered row", t["fg-soft"], t["bg-hover"], TEXT],
  ["muted text (last message) on the open room", t["fg-soft"], t["bg-active"], TEXT],
  ["links on the page", t.accent, t.bg, TEXT],
  ["links on the side columns", t.accent, t["bg-soft"], TEXT],
  ["links on a hovered message", t.accent, t["bg-soft"], TEXT],
  ["button and badge text on the accent", t["accent-fg"], t.accent, TEXT],
  ["a mention", t.accent, t["accent-soft"], TEXT],
  ["your own reaction, an avatar's initial", t.accent, t["accent-soft"], TEXT],
  ["a reaction's count on a hovered message", t.fg, t.bg, TEXT],
  ["text in a user's assistant bubble", t.fg, t["accent-soft"], TEXT],
  ["a mention of you", t["mention-fg"], t["mention-bg"], TEXT],
  ["text in a row that mentions you", t.fg, mix(t["mention-bg"], 0.45, t.bg), TEXT],
  ["a mention of you in that row", t["mention-fg"], t["mention-bg"], TEXT],
  ["\"Reconnecting…\" badge", t["mention-fg"], t["mention-bg"], TEXT],
  ["a search match (<mark>)", t["mention-fg"], t["mention-bg"], TEXT],
  ["text in a message jumped to from a search", t.fg, t["mention-bg"], TEXT],
  ["its time (muted)", t["fg-soft"], t["mention-bg"], TEXT],
  ["links and author names in it", t.accent, t["mention-bg"], TEXT],
  ["errors and the new-messages line", t.danger, t.bg, TEXT],
  ["Stop button text", t.bg, t.danger, TEXT],
  ["error toast text", "#ffffff", t["toast-error"], TEXT],
  ["toast text", t.bg, t.fg, TEXT],
  ["placeholder text in a field", t["fg-soft"], t.bg, TEXT],
  ["read notification (70 % opacity)", mix(t.fg, 0.7, t.bg), t.bg, TEXT],
  ["focus ring", t.accent, t.bg, UI],
  ["field and button borders on the page", t["border-strong"], t.bg, UI],
  ["field and button borders on the side columns", t["border-strong"], t["bg-soft"], UI],
  ["online dot on the members column", t.online, t["bg-soft"], UI],
  ["offline dot on the members column", t.offline, t["bg-soft"], UI],
];

let failed = 0;
for (const [theme, colours] of [["light", light], ["dark", dark]]) {
  for (const [what, fg, bg, min] of pairs(colours)) {
    if (!fg || !bg) {
      console.log(`MISSING ${theme}: ${what}`);
      failed += 1;
      continue;
    }
    const r = ratio(fg, bg);
    const ok = r >= min;
    if (!ok) failed += 1;
    console.log(`${ok ? "ok  " : "FAIL"} ${theme.padEnd(5)} ${r.toFixed(2).padStart(5)}:1 (needs ${min}) ${what}: ${fg} on ${bg}`);
  }
}
if (failed) {
  console.log(`${failed} pair(s) below WCAG AA`);
  process.exit(1);
}
console.log("every audited pair meets WCAG AA");
