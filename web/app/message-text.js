// A message's text as DOM nodes: http(s) URLs become links that open in a new tab without
// a referrer or a handle on this page, @mentions become highlighted spans, and everything
// else stays text nodes. Nothing is ever parsed as HTML.

import { h } from "./dom.js";

const URL_LIKE = /\bhttps?:\/\/[^\s<>"]+/gi;
const MENTION = /@([A-Za-z0-9_.-]{3,32})/g;
// Punctuation that ends a sentence, not the URL: "see https://example.com/a."
const TRAILING = /[.,;:!?'"*_]+$/;

/** `{node, mentionsMe}` for `content`, seen by the user named `me`. */
export function messageText(content, me) {
  const out = document.createDocumentFragment();
  let last = 0;
  let mentionsMe = false;
  const text = (piece) => {
    mentionsMe = mentions(out, piece, me) || mentionsMe;
  };
  for (const match of content.matchAll(URL_LIKE)) {
    const raw = trimUrl(match[0]);
    const href = safeHref(raw);
    if (!href) continue;
    text(content.slice(last, match.index));
    out.append(h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "msg-link" }, raw));
    last = match.index + raw.length;
  }
  text(content.slice(last));
  return { node: out, mentionsMe };
}

/** Drops trailing punctuation, and a closing bracket the URL did not open. */
function trimUrl(url) {
  let out = url.replace(TRAILING, "");
  for (const [open, close] of [["(", ")"], ["[", "]"]]) {
    while (out.endsWith(close) && out.split(open).length < out.split(close).length) {
      out = out.slice(0, -1).replace(TRAILING, "");
    }
  }
  return out;
}

function safeHref(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function mentions(out, piece, me) {
  let last = 0;
  let mentionsMe = false;
  for (const match of piece.matchAll(MENTION)) {
    out.append(piece.slice(last, match.index));
    const mine = match[1].toLowerCase() === me.toLowerCase();
    mentionsMe ||= mine;
    out.append(h("span", { class: `mention${mine ? " me" : ""}` }, match[0]));
    last = match.index + match[0].length;
  }
  out.append(piece.slice(last));
  return mentionsMe;
}
