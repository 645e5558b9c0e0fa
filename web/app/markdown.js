// A small Markdown renderer for the assistant's replies that builds DOM nodes: model text
// only ever becomes text nodes, so no HTML in a reply can run or inject anything.
// Block: paragraphs, #-headings, fenced code, lists, quotes, rules. Inline: `code`,
// **bold**, *italic*, [links](http…) (http and https only).

import { h } from "./dom.js";

export function renderMarkdown(source) {
  const root = document.createDocumentFragment();
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+#.-]*)/);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence (or the end, while a reply is still streaming)
      const code = h("code", {}, body.join("\n"));
      if (fence[2]) code.dataset.lang = fence[2];
      root.append(h("pre", { class: "code" }, code));
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      root.append(h(`h${Math.min(6, heading[1].length + 2)}`, {}, inline(heading[2])));
      i += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      root.append(h("hr"));
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ""));
      root.append(h("blockquote", {}, renderMarkdown(body.join("\n"))));
      continue;
    }
    const bullet = /^\s*[-*+]\s+/;
    const numbered = /^\s*\d+[.)]\s+/;
    if (bullet.test(line) || numbered.test(line)) {
      const marker = bullet.test(line) ? bullet : numbered;
      const list = h(marker === bullet ? "ul" : "ol");
      while (i < lines.length && marker.test(lines[i])) {
        let text = lines[i++].replace(marker, "");
        // Continuation lines indented under the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !marker.test(lines[i])) text += " " + lines[i++].trim();
        list.append(h("li", {}, inline(text)));
      }
      root.append(list);
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !/^(#{1,6})\s|^\s*(```|~~~)|^\s*>|^\s*[-*+]\s+|^\s*\d+[.)]\s+/.test(lines[i])
    ) {
      paragraph.push(lines[i++]);
    }
    const p = h("p");
    paragraph.forEach((text, n) => {
      if (n) p.append(h("br"));
      p.append(inline(text));
    });
    root.append(p);
  }
  return root;
}

const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+?)\*\*|__([^_]+?)__|\*([^*\s][^*]*?)\*|_([^_\s][^_]*?)_(?![A-Za-z0-9])|\[([^\]]+)\]\(([^)\s]+)\)/g;

export function inline(text) {
  const out = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) out.append(text.slice(last, match.index));
    const [whole, , code, bold1, bold2, em1, em2, label, href] = match;
    if (code !== undefined) out.append(h("code", {}, code));
    else if (bold1 !== undefined || bold2 !== undefined) out.append(h("strong", {}, inline(bold1 ?? bold2)));
    else if (em1 !== undefined || em2 !== undefined) out.append(h("em", {}, inline(em1 ?? em2)));
    else if (label !== undefined) out.append(link(label, href, whole));
    last = match.index + whole.length;
  }
  if (last < text.length) out.append(text.slice(last));
  return out;
}

function link(label, href, whole) {
  let url;
  try {
    url = new URL(href, location.href);
  } catch {
    return document.createTextNode(whole);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return document.createTextNode(whole);
  return h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, inline(label));
}
