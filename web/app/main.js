// Entry point: the sign-in screen, then the chat shell. The views never import one another:
// each is built here from the shared state and callbacks, and this module carries what one
// view's action means for the others (opening, entering and leaving rooms) and routes the
// socket's frames.

import * as api from "./api.js";
import { h, fill, toast, uid } from "./dom.js";
import { state, roomTitle } from "./state.js";
import * as sync from "./sync.js";
import { Socket } from "./socket.js";
import { createRooms } from "./rooms.js";
import { createConversation } from "./conversation.js";
import { createComposer } from "./composer.js";
import { createMembers } from "./members.js";
import { createNotifications } from "./notifications.js";
import { createAssistant } from "./assistant.js";
import { createThread } from "./thread.js";
import { createThreads } from "./threads.js";
import { createSearch } from "./search.js";

const app = document.getElementById("app");
document.body.append(h("div", { id: "toasts", class: "toasts", "aria-live": "polite" }));

api.authEvents.addEventListener("signedout", () => {
  if (state.socket) state.socket.stop();
  state.socket = null;
  state.me = null;
  state.rooms.clear();
  state.members.clear();
  state.current = null;
  state.threads = [];
  state.threadsCursor = null;
  state.strayReplies = [];
  showSignIn();
});

async function boot() {
  if (api.hasStoredSession()) {
    try {
      await api.refresh();
      return start();
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) return showSignIn();
      // The server is unreachable: keep the session and retry.
      fill(app, h("p", { class: "splash", role: "status" }, "Cannot reach the server; retrying…"));
      setTimeout(boot, 3000);
      return;
    }
  }
  showSignIn();
}

function showSignIn(mode = "login") {
  const error = h("p", { class: "form-error", role: "alert" });
  const registering = mode === "register";
  const field = (label, props) => h("label", { class: "field" }, h("span", {}, label), h("input", { required: true, ...props }));
  const form = h(
    "form",
    { class: "auth-form", "aria-labelledby": "auth-title" },
    h("h1", { id: "auth-title" }, registering ? "Create your account" : "Log in to Palaver"),
    registering
      ? [
          field("Username", { name: "username", autocomplete: "username", minlength: 3, maxlength: 32, pattern: "[A-Za-z0-9_.\\-]+" }),
          field("Email", { name: "email", type: "email", autocomplete: "email" }),
        ]
      : field("Username or email", { name: "identifier", autocomplete: "username" }),
    field("Password", {
      name: "password",
      type: "password",
      minlength: registering ? 8 : 1,
      autocomplete: registering ? "new-password" : "current-password",
    }),
    error,
    h("button", { type: "submit", class: "primary" }, registering ? "Create account" : "Log in"),
    h(
      "p",
      { class: "switch" },
      registering ? "Already have an account? " : "New here? ",
      h("button", { type: "button", class: "link", onclick: () => showSignIn(registering ? "login" : "register") },
        registering ? "Log in" : "Create an account"),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    error.textContent = "";
    try {
      if (registering) await api.register(data.get("username").trim(), data.get("email").trim(), data.get("password"));
      else await api.login(data.get("identifier").trim(), data.get("password"));
      start();
    } catch (e) {
      error.textContent = api.describe(e);
      button.disabled = false;
    }
  });
  fill(app, h("main", { class: "auth" }, h("div", { class: "brand big" }, h("span", { class: "logo", "aria-hidden": "true" }), "Palaver"), form));
  form.querySelector("input").focus();
}

function start() {
  state.me = api.session.user;
  const showPane = (pane) => {
    shell.dataset.pane = pane;
  };

  const composer = createComposer(state, {
    onPending: (roomId, clientMsgId, content, retry) => conversation.showPending(roomId, clientMsgId, content, retry),
    onPosted: (message) => conversation.posted(message),
    onEditLast: () => conversation.editLast(),
  });
  const conversation = createConversation(state, {
    composer: composer.element,
    onShown: (room, { focus }) => {
      composer.reset(room);
      if (focus) composer.focus();
    },
    onFocusComposer: () => composer.focus(),
    loadMembers: sync.ensureMembers,
    onSeen: markRead,
    onRead: sendRead,
    onLeave: leave,
    onDm: openDm,
    onPane: showPane,
    onThread: (root) => openThread(root.room_id, root.id, root),
    onReact: sync.react,
  });
  composer.acceptDrops(conversation.element);
  const members = createMembers(state, {
    loadMembers: sync.ensureMembers,
    onCount: (count) => conversation.setMemberCount(count),
    onDm: openDm,
    onLeave: leave,
    onPane: showPane,
  });
  const rooms = createRooms(state, { onOpen: (id) => open(id), onEnter: enter });
  const notifications = createNotifications(state, {
    onUnknownRoom: discover,
    onOpenRoom: (id) => open(id),
    onOpenThread: (roomId, rootId) => openThread(roomId, rootId, null),
  });
  const assistant = createAssistant(state);
  const thread = createThread(state, {
    findRoot: sync.findRoot,
    onSend: sendReply,
    onReact: sync.react,
    onRead: readThread,
    onDm: openDm,
    onClose: () => {
      showPane("chat");
      composer.focus();
    },
  });
  const threads = createThreads(state, {
    onLoad: (more) => sync.loadThreads(more).then(threadsChanged),
    onOpenThread: (roomId, root) => openThread(roomId, root.id, root),
  });
  const search = createSearch(state, {
    onOpen: () => open("search"),
    onClose: closeSearch,
    onJump: jump,
  });
  /** What the middle column showed before the search opened, to go back to when it closes. */
  let beforeSearch = null;

  const status = h("div", { class: "connection", role: "status", "aria-live": "polite" });
  const welcome = h(
    "section",
    { id: "welcome", class: "welcome", "aria-labelledby": "welcome-title" },
    h("h1", { id: "welcome-title" }, `Welcome, ${state.me.username}`),
    h("p", { class: "muted" }, "Rooms are where your team talks. Start one, or join one that exists."),
    h("div", { class: "welcome-actions" },
      h("button", { class: "primary", onclick: () => rooms.create() }, "Create a room"),
      h("button", { class: "ghost", onclick: () => rooms.browse() }, "Browse public rooms"),
      h("button", { class: "ghost", onclick: () => open("assistant") }, "Ask the assistant")),
  );
  const shell = h(
    "div",
    { class: "shell", dataset: { pane: "list" } },
    h("a", { class: "skip-link", href: "#main", onclick: skipToMain }, "Skip to the conversation"),
    h(
      "header",
      { class: "topbar" },
      h("button", { class: "icon back", "aria-label": "Back to rooms", onclick: () => showPane("list") }, "‹"),
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "Palaver"),
      status,
      h("div", { class: "spacer" }),
      search.button,
      notifications.element,
      h(
        "div",
        { class: "account" },
        h("span", { class: "who", text: state.me.username }),
        h("button", { class: "ghost", onclick: () => api.logout().catch((e) => toast(api.describe(e))) }, "Log out"),
      ),
    ),
    rooms.element,
    h("main", { class: "main", id: "main", tabindex: "-1" }, welcome, conversation.element, threads.element, assistant.element, search.element),
    members.element,
    thread.element,
  );
  fill(app, shell);

  /** The skip link: straight to the message box (or the assistant's), past the lists. */
  function skipToMain(event) {
    event.preventDefault();
    showPane("chat");
    const target = document.querySelector("#main section:not([hidden]) textarea") || document.getElementById("main");
    target.focus();
  }

  /**
   * Opens a room (by id), the assistant ("assistant"), the followed threads ("threads") or the
   * search ("search") in the middle column; a room `around` a message (`{id, seq}`) if given.
   */
  function open(id, { focus = true, show = true, around = null } = {}) {
    if (id === "search" && state.current !== "search") beforeSearch = state.current;
    state.current = id;
    welcome.hidden = true;
    // A reload shows what was open under the search: a search is not worth restoring empty.
    if (id !== "search") sessionStorage.setItem("palaver.view", id);
    rooms.showCurrent(id);
    // The thread pane belongs to the room beside it.
    const pane = thread.shown();
    if (pane && pane.roomId !== id) thread.close();
    const panels = { assistant, threads, search };
    for (const [name, panel] of Object.entries(panels)) if (name !== id) panel.close();
    if (id in panels) {
      conversation.close();
      members.close();
      if (id === "search") search.open(state.rooms.has(beforeSearch) ? beforeSearch : null);
      else panels[id].open();
    } else {
      const room = state.rooms.get(id);
      if (!room) return;
      conversation.open(room, { focus, around });
      members.open(room);
    }
    // On a phone the first screen is the list of rooms, even with one open behind it.
    if (show) showPane("chat");
  }

  /** Opens a thread in the pane beside its room (the room opened first if it is not). */
  function openThread(roomId, rootId, root) {
    const room = state.rooms.get(roomId);
    if (!room) return;
    if (state.current !== roomId) open(roomId, { focus: false, show: false });
    thread.open(room, rootId, root || conversation.message(rootId));
    showPane("thread");
  }

  /** Escape or × in the search: back to what was open before it (the welcome if nothing was). */
  function closeSearch() {
    const back = beforeSearch;
    if (back === "assistant" || back === "threads" || state.rooms.has(back)) return open(back);
    search.close();
    state.current = null;
    rooms.showCurrent(null);
    welcome.hidden = false;
  }

  /** A search hit chosen: its room around it, or a reply in its thread beside the room. */
  function jump(message) {
    const room = state.rooms.get(message.room_id);
    if (!room) return toast("You are no longer in the room of that message.");
    if (!message.thread_root_id) return open(room.id, { around: message });
    open(room.id, { focus: false, show: false });
    thread.open(room, message.thread_root_id, null, { focus: false, highlight: message });
    showPane("thread");
  }

  function sendReply(roomId, rootId, content) {
    return sync.sendReply(roomId, rootId, content, uid()).then((reply) => {
      // A first reply makes us follow the thread: it joins the list.
      if (!state.threads.some((entry) => entry.root.id === rootId)) sync.reloadThreadsSoon(threadsChanged);
      return reply;
    });
  }

  /** The open thread was read to the reply `seq`: the server is told, the counts follow. */
  function readThread(roomId, rootId, seq) {
    api.post(`/rooms/${roomId}/threads/${rootId}/read`, { seq }).catch((e) => console.info("palaver: thread read marker not moved:", api.describe(e)));
    sync.threadRead({ room_id: roomId, root_id: rootId, seq });
    threadsChanged();
  }

  /** A thread's read marker moved on one of our devices (this one included). */
  function threadReadElsewhere(frame) {
    sync.threadRead(frame);
    // Not read to the newest reply known here: how many are left is the server's to say.
    const entry = state.threads.find((e) => e.root.id === frame.root_id);
    if (entry && entry.unread_count) sync.reloadThreadsSoon(threadsChanged);
    threadsChanged();
  }

  function threadsChanged() {
    rooms.renderThreads();
    threads.render();
  }

  /** Adds a room we just joined or created and opens it. */
  function enter(room) {
    sync.subscribe(sync.adopt(room));
    rooms.render();
    open(room.id);
  }

  async function leave(room) {
    if (!confirm(`Leave ${roomTitle(room, state.me)}?`)) return;
    try {
      await api.post(`/rooms/${room.id}/leave`);
      state.socket.send({ type: "unsubscribe", room_id: room.id });
      removed(room.id);
    } catch (e) {
      toast(api.describe(e));
    }
  }

  async function openDm(userId) {
    try {
      enter(await api.post("/dms", { user_id: userId }));
    } catch (e) {
      toast(api.describe(e));
    }
  }

  /** A room we were added to elsewhere (an invitation, a new DM): listed and subscribed. */
  async function discover(roomId) {
    const room = await sync.discover(roomId);
    if (!room) return;
    rooms.render();
    sync.loadLastMessages([room], rooms.renderRoom);
  }

  function removed(roomId) {
    if (!state.rooms.delete(roomId)) return;
    rooms.render();
    if (state.current === roomId) {
      const next = state.rooms.keys().next().value;
      if (next) open(next, { focus: false });
      else open("assistant");
    }
  }

  function updated(room) {
    if (!state.rooms.has(room.id)) return;
    sync.adopt(room);
    rooms.render();
    if (room.id === state.current) conversation.header(state.rooms.get(room.id));
  }

  function markRead(roomId) {
    const room = sync.markRead(roomId);
    if (room) rooms.renderRoom(room);
  }

  function sendRead(roomId, seq) {
    // A read timer of this shell that fires after the user signed out: nothing to tell.
    if (!state.socket) return;
    // Over the socket, or over REST while it is between connections.
    if (!state.socket.send({ type: "read", room_id: roomId, seq })) {
      api.post(`/rooms/${roomId}/read`, { seq }).catch(() => {});
    }
    // Our own marker in the cached member list, so that reopening the room puts the
    // "New messages" line where we stopped reading now, not where we had when it loaded.
    sync.readMarker({ room_id: roomId, user_id: state.me.id, seq });
  }

  /** Our own read marker moved in another tab or device (or someone else's did). */
  function readElsewhere(frame) {
    sync.readMarker(frame);
    if (frame.user_id === state.me.id) {
      const room = state.rooms.get(frame.room_id);
      if (room && frame.seq >= room.last_seq) markRead(room.id);
    }
  }

  async function membership(frame) {
    if (frame.user.id === state.me.id) {
      if (frame.type === "member_joined") await discover(frame.room_id);
      else if (frame.type === "member_left") removed(frame.room_id);
      return;
    }
    sync.membership(frame);
    members.roomChanged(frame.room_id);
  }

  /** After every (re)connect: each room from the newest event this client applied. */
  async function resubscribeAll() {
    for (const room of state.rooms.values()) sync.subscribe(room);
    if (state.connectedOnce) {
      // Rooms joined or left elsewhere while we were away.
      try {
        const { added, gone } = await sync.refreshJoined();
        sync.loadLastMessages(added, rooms.renderRoom);
        for (const id of gone) removed(id);
        rooms.render();
        // Threads followed meanwhile, and read elsewhere.
        sync.reloadThreadsSoon(threadsChanged);
      } catch {
        // The next reconnect tries again.
      }
    }
    state.connectedOnce = true;
  }

  function dispatch(frame) {
    switch (frame.type) {
      case "message":
      case "message_updated":
      case "message_deleted":
      case "reaction": {
        const room = sync.applyRoomEvent(frame, () => conversation.isReading());
        if (!room) return;
        if (frame.type !== "reaction") rooms.renderRoom(room);
        const reply = frame.type === "message" && frame.message.thread_root_id ? frame.message : null;
        if (reply && sync.threadReply(reply, thread.isReading(reply.thread_root_id))) threadsChanged();
        if (room.id === state.current) conversation.apply(frame);
        thread.apply(frame);
        return;
      }
      case "thread_read":
        return threadReadElsewhere(frame);
      case "subscribed": {
        // A replay too large for the socket: the open room's history (and thread) from scratch.
        const pane = thread.shown();
        if (frame.truncated && frame.room_id === state.current) conversation.reload();
        if (frame.truncated && pane && pane.roomId === frame.room_id) thread.reload();
        return;
      }
      case "typing":
        return conversation.typing(frame);
      case "presence":
        if (sync.presence(frame)) members.userChanged(frame.user_id);
        return;
      case "read":
        return readElsewhere(frame);
      case "notification": {
        const n = frame.notification;
        notifications.add(n);
        // A reply or a mention in a thread not listed yet: we follow it now.
        if (n.thread_root_id && !state.threads.some((entry) => entry.root.id === n.thread_root_id)) sync.reloadThreadsSoon(threadsChanged);
        return;
      }
      case "member_joined":
      case "member_left":
        return membership(frame);
      case "room_updated":
        return updated(frame.room);
      case "room_deleted":
        return removed(frame.room_id);
      case "error":
        if (frame.id === undefined) console.warn("socket error", frame);
        return;
      default:
        if (frame.type && frame.type.startsWith("assistant.")) return assistant.frame(frame);
    }
  }

  state.socket = new Socket({
    onState: (connection) => {
      state.connection = connection;
      status.dataset.state = connection;
      status.textContent = connection === "open" ? "" : connection === "connecting" ? "Connecting…" : "Reconnecting…";
    },
    onOpen: () => resubscribeAll(),
    onFrame: dispatch,
  });
  sync.loadRooms().then(() => {
    rooms.render();
    sync.loadLastMessages([...state.rooms.values()], rooms.renderRoom);
    state.socket.start();
    notifications.load();
    sync.loadThreads().then(threadsChanged, () => {});
    const wanted = sessionStorage.getItem("palaver.view");
    const first = { focus: false, show: false };
    if (wanted === "assistant" || wanted === "threads") open(wanted, first);
    else if (wanted && state.rooms.has(wanted)) open(wanted, first);
    else if (state.rooms.size) open(state.rooms.keys().next().value, first);
  }, (e) => toast(api.describe(e)));
}

boot();
