// An image attachment in a message: its thumbnail, the full size in a dialog, and fresh
// signed URLs when the ones it came with have expired.

import * as api from "./api.js";
import { h } from "./dom.js";

/**
 * message id → the request for its fresh attachment URLs, while one is recent. Shared by
 * the timeline and the thread pane, which may show the same message.
 */
const refetching = new Map();

/** The thumbnail of `message`'s image, as a button that opens it at full size. */
export function thumbnail(message) {
  const a = message.attachment;
  const scale = Math.min(1, 320 / Math.max(a.width || 320, a.height || 320));
  const img = h("img", {
    src: a.thumbnail_url,
    alt: `Image from ${message.author.username}`,
    width: Math.round((a.width || 320) * scale),
    height: Math.round((a.height || 320) * scale),
    loading: "lazy",
    decoding: "async",
  });
  refreshOnError(img, message, "thumbnail_url");
  return h("button", { class: "thumb", "aria-label": `Open image from ${message.author.username} at full size`, onclick: () => lightbox(message) }, img);
}

/**
 * Attachment URLs are signed and expire (an hour by default): an image that fails to load
 * asks the server for its message again, whose attachment carries fresh URLs. Once per
 * image, so a file that is really gone does not loop.
 */
function refreshOnError(img, message, which) {
  img.addEventListener(
    "error",
    async () => {
      const fresh = await freshAttachment(message);
      if (fresh && fresh[which]) img.src = fresh[which];
    },
    { once: true },
  );
}

function freshAttachment(message) {
  if (!refetching.has(message.id)) {
    // A reply is not in the room's history, only in its thread's.
    const history = message.thread_root_id
      ? `/rooms/${message.room_id}/threads/${message.thread_root_id}/messages`
      : `/rooms/${message.room_id}/messages`;
    const attempt = api
      .get(`${history}?after=${message.seq - 1}&limit=1`)
      .then((page) => {
        const found = page.items.find((m) => m.id === message.id);
        if (!found || !found.attachment) return null;
        message.attachment = found.attachment;
        return found.attachment;
      })
      .catch(() => null)
      .finally(() => setTimeout(() => refetching.delete(message.id), 30_000));
    refetching.set(message.id, attempt);
  }
  return refetching.get(message.id);
}

function lightbox(message) {
  const full = h("img", { src: message.attachment.url, alt: `Image from ${message.author.username}, full size` });
  refreshOnError(full, message, "url");
  const dlg = h(
    "dialog",
    { class: "lightbox", "aria-label": "Image" },
    h("button", { class: "icon close", "aria-label": "Close image", onclick: () => dlg.close() }, "×"),
    full,
  );
  dlg.addEventListener("close", () => dlg.remove());
  dlg.addEventListener("click", (event) => event.target === dlg && dlg.close());
  document.body.append(dlg);
  dlg.showModal();
}
