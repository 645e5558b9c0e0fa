// The assistant panel: conversations, replies rendered as they stream (Markdown built as
// DOM nodes), tool calls with their results, stop, rename, delete, and a reply that was
// running when the page reloaded picked up again from its start.

import * as api from "./api.js";
import { h, fill, formatTime, toast } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

/**
 * The assistant's panel, its conversations kept in `state.conversations` and the open one
 * in `state.conversation`. It talks to the API itself and needs no callbacks.
 */
export function createAssistant(state) {
  const list = h("ul", { class: "conversation-list", "aria-label": "Assistant conversations" });
  const title = h("div", { class: "assistant-title" });
  const log = h("div", { class: "assistant-log", role: "log", "aria-label": "Assistant replies", tabindex: "0" });
  const status = h("p", { class: "assistant-status muted", role: "status" });
  const field = h("textarea", { rows: 2, "aria-label": "Ask the assistant", placeholder: "Ask the assistant…", maxlength: 10000 });
  const sendButton = h("button", { class: "primary", type: "submit" }, "Send");
  const stopButton = h("button", { class: "danger", type: "button", hidden: true, onclick: stop }, "Stop");
  const form = h("form", { class: "composer assistant-composer" }, h("div", { class: "composer-row" }, field, sendButton, stopButton));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask();
    }
  });
  const section = h(
    "section",
    { class: "assistant-panel", hidden: true, "aria-label": "Assistant" },
    h(
      "div",
      { class: "assistant-side" },
      h("h2", { class: "visually-hidden" }, "Assistant conversations"),
      h("button", { class: "primary new", onclick: () => create() }, "New conversation"),
      list,
    ),
    h("div", { class: "assistant-main" }, title, log, status, form),
  );
  /** The reply being streamed, and the conversation it belongs to. */
  let streaming = null;

  async function open() {
    section.hidden = false;
    try {
      const page = await api.get("/chat/conversations?limit=100");
      state.conversations = page.items;
      renderList();
      const wanted = sessionStorage.getItem("palaver.conversation");
      const pick = state.conversations.find((c) => c.id === wanted) || state.conversations[0];
      if (pick) select(pick);
      else showEmpty();
    } catch (e) {
      toast(api.describe(e));
    }
  }

  function close() {
    section.hidden = true;
  }

  /** Replies started by another tab arrive as socket frames; this tab streams its own over SSE. */
  function frame() {}

  function renderList() {
    fill(
      list,
      state.conversations.map((c) =>
        h("li", {}, h("button", {
          class: "conversation-item",
          "aria-current": state.conversation && state.conversation.id === c.id ? "page" : null,
          onclick: () => select(c),
        }, c.title || "New conversation", h("span", { class: "muted small" }, ` · ${formatTime(c.updated_at)}`))),
      ),
    );
    if (!state.conversations.length) list.append(h("li", { class: "muted" }, "No conversations yet."));
  }

  function showEmpty() {
    state.conversation = null;
    fill(title, h("h1", {}, "Assistant"));
    fill(log, h("p", { class: "muted empty-state" }, "Ask anything: start typing below."));
  }

  async function create(firstTitle) {
    try {
      const conversation = await api.post("/chat/conversations", firstTitle ? { title: firstTitle } : {});
      state.conversations.unshift(conversation);
      await select(conversation);
      return conversation;
    } catch (e) {
      toast(api.describe(e));
      return null;
    }
  }

  async function select(conversation) {
    state.conversation = conversation;
    sessionStorage.setItem("palaver.conversation", conversation.id);
    renderList();
    renderTitle();
    fill(log, h("p", { class: "muted" }, "Loading…"));
    status.textContent = "";
    try {
      const page = await api.get(`/chat/conversations/${conversation.id}/messages?limit=100`);
      if (state.conversation !== conversation) return;
      log.replaceChildren();
      let running = null;
      for (const message of page.items) {
        if (message.role === "tool") continue;
        const bubble = bubbleFor(message.role);
        if (message.role === "assistant") {
          const reply = replyState(bubble);
          for (const call of message.tool_calls || []) {
            reply.parts.push({ tool: call.name, arguments: call.arguments, result: call.result, is_error: call.is_error });
          }
          reply.parts.push({ text: message.content || "" });
          draw(reply);
          if (message.status === "running") running = { message, reply };
          else endNote(bubble, message.status);
        } else {
          bubble.append(h("p", { class: "plain" }, message.content));
        }
      }
      if (!page.items.length) log.append(h("p", { class: "muted empty-state" }, "Ask anything: start typing below."));
      log.scrollTop = log.scrollHeight;
      if (running) resume(conversation, running.message, running.reply);
    } catch (e) {
      toast(api.describe(e));
    }
  }

  function renderTitle() {
    const heading = h("h1", {}, state.conversation.title || "New conversation");
    const rename = h("button", { class: "ghost small", onclick: () => startRename() }, "Rename");
    const remove = h("button", { class: "ghost small", onclick: () => removeCurrent() }, "Delete");
    fill(title, heading, h("div", { class: "spacer" }), rename, remove);
  }

  function startRename() {
    const input = h("input", { "aria-label": "Conversation title", value: state.conversation.title || "", maxlength: 500 });
    const form = h("form", { class: "rename" }, input, h("button", { class: "primary small", type: "submit" }, "Save"),
      h("button", { class: "ghost small", type: "button", onclick: renderTitle }, "Cancel"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const updated = await api.patch(`/chat/conversations/${state.conversation.id}/title`, { title: input.value.trim() });
        Object.assign(state.conversation, updated);
        renderTitle();
        renderList();
      } catch (e) {
        toast(api.describe(e));
      }
    });
    input.addEventListener("keydown", (event) => event.key === "Escape" && renderTitle());
    fill(title, form);
    input.focus();
    input.select();
  }

  async function removeCurrent() {
    if (!state.conversation || !confirm(`Delete “${state.conversation.title || "New conversation"}”?`)) return;
    try {
      await api.del(`/chat/conversations/${state.conversation.id}`);
      state.conversations = state.conversations.filter((c) => c.id !== state.conversation.id);
      renderList();
      if (state.conversations[0]) select(state.conversations[0]);
      else showEmpty();
    } catch (e) {
      toast(api.describe(e));
    }
  }

  function bubbleFor(role) {
    const bubble = h("div", { class: `bubble ${role}` }, h("div", { class: "who muted small" }, role === "user" ? "You" : "Assistant"));
    const empty = log.querySelector(".empty-state");
    if (empty) empty.remove();
    log.append(bubble);
    return bubble;
  }

  function replyState(bubble) {
    const body = h("div", { class: "reply-body" });
    bubble.append(body);
    return { bubble, body, parts: [], frame: 0 };
  }

  /** Redraws a reply from its parts, at most once a frame while it streams. */
  function draw(reply) {
    const nodes = reply.parts.map((part) => {
      if (part.text !== undefined) return h("div", { class: "markdown" }, renderMarkdown(part.text));
      const args = typeof part.arguments === "string" ? part.arguments : JSON.stringify(part.arguments, null, 2);
      return h(
        "details",
        { class: `tool${part.is_error ? " tool-error" : ""}`, open: true },
        h("summary", {}, `Tool: ${part.tool}`, part.result === undefined ? " (running…)" : part.is_error ? " (failed)" : ""),
        h("div", { class: "muted small" }, "Arguments"),
        h("pre", { class: "code" }, h("code", {}, args)),
        part.result !== undefined ? [h("div", { class: "muted small" }, "Result"), h("pre", { class: "code" }, h("code", {}, part.result))] : null,
      );
    });
    fill(reply.body, nodes);
  }

  function schedule(reply) {
    if (reply.frame) return;
    reply.frame = requestAnimationFrame(() => {
      reply.frame = 0;
      const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
      draw(reply);
      if (stick) log.scrollTop = log.scrollHeight;
    });
  }

  function applyEvent(reply, event) {
    const last = reply.parts[reply.parts.length - 1];
    switch (event.type) {
      case "chunk":
        if (last && last.text !== undefined) last.text += event.content;
        else reply.parts.push({ text: event.content });
        break;
      case "tool_call":
        reply.parts.push({ tool: event.name, arguments: event.arguments });
        break;
      case "tool_result": {
        const call = [...reply.parts].reverse().find((p) => p.tool === event.name && p.result === undefined);
        if (call) Object.assign(call, { result: event.content, is_error: event.is_error });
        break;
      }
      default:
        return;
    }
    schedule(reply);
  }

  function endNote(bubble, how, detail) {
    const old = bubble.querySelector(".end-note");
    if (old) old.remove();
    if (how === "complete" || how === "running") return;
    const text = how === "cancelled" ? "Stopped." : how === "interrupted" ? "Interrupted: the server stopped during this reply." : `Error: ${detail || how}`;
    bubble.append(h("p", { class: `end-note ${how === "cancelled" ? "muted" : "form-error"}` }, text));
  }

  /** Reads an SSE body: `id:` and `data:` lines, events split by a blank line. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        let id = null;
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("id:")) id = line.slice(3).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue;
        try {
          onEvent(JSON.parse(data.join("\n")), id);
        } catch {
          // A line we do not understand.
        }
      }
    }
  }

  function busy(on) {
    sendButton.hidden = on;
    stopButton.hidden = !on;
    if (!on && document.activeElement === stopButton) field.focus();
  }

  async function follow(conversation, reply, response) {
    streaming = { conversation, reply };
    busy(true);
    status.textContent = "The assistant is replying…";
    let ended = null;
    try {
      await readEvents(response, (event) => {
        if (event.type === "complete") ended = { how: "complete" };
        // A stopped reply is told apart from a failed one only by its error text, "cancelled".
        // The end's typed status: cancelled, interrupted or error.
        else if (event.type === "error") ended = { how: event.status || "error", detail: event.error };
        else applyEvent(reply, event);
      });
    } catch {
      ended = ended || { how: "error", detail: "the connection to the server was lost; reload to see the rest" };
    } finally {
      if (streaming && streaming.reply === reply) streaming = null;
      busy(false);
      status.textContent = "";
      if (reply.frame) cancelAnimationFrame(reply.frame);
      reply.frame = 0;
      draw(reply);
      if (ended) endNote(reply.bubble, ended.how, ended.detail);
      const item = state.conversations.find((c) => c.id === conversation.id);
      if (item) item.updated_at = new Date().toISOString();
    }
  }

  async function ask() {
    const message = field.value;
    if (!message.trim() || streaming) return;
    let conversation = state.conversation;
    if (!conversation) {
      conversation = await create(message.trim().slice(0, 60));
      if (!conversation) return;
    }
    field.value = "";
    bubbleFor("user").append(h("p", { class: "plain" }, message));
    const reply = replyState(bubbleFor("assistant"));
    log.scrollTop = log.scrollHeight;
    try {
      const response = await api.authorizedFetch(`/chat/conversations/${conversation.id}/stream`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ message }),
      });
      if (!conversation.title) {
        conversation.title = message.trim().slice(0, 60);
        api.patch(`/chat/conversations/${conversation.id}/title`, { title: conversation.title }).catch(() => {});
        if (state.conversation === conversation) renderTitle();
        renderList();
      }
      await follow(conversation, reply, response);
    } catch (e) {
      const why = e.status === 503 ? "The assistant is not set up on this server (no model configured)." : api.describe(e);
      endNote(reply.bubble, "error", why);
    }
  }

  /** A reply still running after a reload: replay it from its first event, then follow it. */
  async function resume(conversation, message, reply) {
    reply.parts = [];
    draw(reply);
    try {
      const response = await api.authorizedFetch(`/chat/conversations/${conversation.id}/messages/${message.id}/stream`, {
        headers: { accept: "text/event-stream" },
      });
      if (state.conversation === conversation) await follow(conversation, reply, response);
    } catch (e) {
      endNote(reply.bubble, "error", api.describe(e));
    }
  }

  async function stop() {
    if (!streaming) return;
    stopButton.disabled = true;
    try {
      await api.post(`/chat/conversations/${streaming.conversation.id}/cancel`);
    } catch (e) {
      toast(api.describe(e));
    } finally {
      stopButton.disabled = false;
    }
  }

  return { element: section, open, close, frame };
}
