// Entry point: the sign-in screen, then the chat shell and its socket.

import * as api from "./api.js";
import { h, fill, toast } from "./dom.js";
import { state, emit, on } from "./state.js";
import { Socket } from "./socket.js";
import * as rooms from "./rooms.js";
import * as conversation from "./conversation.js";
import * as members from "./members.js";
import * as notifications from "./notifications.js";
import * as assistant from "./assistant.js";

const app = document.getElementById("app");
document.body.append(h("div", { id: "toasts", class: "toasts", "aria-live": "polite" }));

api.authEvents.addEventListener("signedout", () => {
  if (state.socket) state.socket.stop();
  state.socket = null;
  state.me = null;
  state.rooms.clear();
  state.members.clear();
  state.current = null;
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
  const status = h("div", { class: "connection", role: "status", "aria-live": "polite" });
  const shell = h(
    "div",
    { class: "shell", dataset: { pane: "list" } },
    h("a", { class: "skip-link", href: "#main", onclick: skipToMain }, "Skip to the conversation"),
    h(
      "header",
      { class: "topbar" },
      h("button", { class: "icon back", "aria-label": "Back to rooms", onclick: () => emit("pane", "list") }, "‹"),
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "Palaver"),
      status,
      h("div", { class: "spacer" }),
      notifications.button(),
      h(
        "div",
        { class: "account" },
        h("span", { class: "who", text: state.me.username }),
        h("button", { class: "ghost", onclick: () => api.logout().catch((e) => toast(api.describe(e))) }, "Log out"),
      ),
    ),
    rooms.sidebar(),
    h("main", { class: "main", id: "main", tabindex: "-1" }, welcome(), conversation.view(), assistant.view()),
    members.panel(),
  );
  fill(app, shell);
  on("pane", (pane) => {
    shell.dataset.pane = pane;
  });

  const showState = (connection) => {
    state.connection = connection;
    status.dataset.state = connection;
    status.textContent = connection === "open" ? "" : connection === "connecting" ? "Connecting…" : "Reconnecting…";
    emit("connection", connection);
  };
  state.socket = new Socket({
    onState: showState,
    onOpen: () => rooms.resubscribeAll(),
    onFrame: dispatch,
  });
  rooms.load().then(() => {
    state.socket.start();
    notifications.load();
    const wanted = sessionStorage.getItem("palaver.view");
    const first = { focus: false, show: false };
    if (wanted === "assistant") rooms.open("assistant", first);
    else if (wanted && state.rooms.has(wanted)) rooms.open(wanted, first);
    else if (state.rooms.size) rooms.open(state.rooms.keys().next().value, first);
  }, (e) => toast(api.describe(e)));
}

/** The skip link: straight to the message box (or the assistant's), past the lists. */
function skipToMain(event) {
  event.preventDefault();
  emit("pane", "chat");
  const target = document.querySelector("#main section:not([hidden]) textarea") || document.getElementById("main");
  target.focus();
}

function welcome() {
  return h(
    "section",
    { id: "welcome", class: "welcome", "aria-labelledby": "welcome-title" },
    h("h1", { id: "welcome-title" }, `Welcome, ${state.me.username}`),
    h("p", { class: "muted" }, "Rooms are where your team talks. Start one, or join one that exists."),
    h("div", { class: "welcome-actions" },
      h("button", { class: "primary", onclick: () => rooms.create() }, "Create a room"),
      h("button", { class: "ghost", onclick: () => rooms.browse() }, "Browse public rooms"),
      h("button", { class: "ghost", onclick: () => rooms.open("assistant") }, "Ask the assistant")),
  );
}

function dispatch(frame) {
  switch (frame.type) {
    case "message":
    case "message_updated":
    case "message_deleted":
      return rooms.applyEvent(frame);
    case "subscribed":
      return rooms.subscribed(frame);
    case "typing":
      return conversation.typing(frame);
    case "presence":
      return members.presence(frame);
    case "read":
      return rooms.readElsewhere(frame);
    case "notification":
      return notifications.add(frame.notification);
    case "member_joined":
    case "member_left":
      return rooms.membership(frame);
    case "room_updated":
      return rooms.updated(frame.room);
    case "room_deleted":
      return rooms.removed(frame.room_id);
    case "error":
      if (frame.id === undefined) console.warn("socket error", frame);
      return;
    default:
      if (frame.type && frame.type.startsWith("assistant.")) return assistant.frame(frame);
  }
}

boot();
