// The web client's end-to-end scenarios, in Debian's chromium driven by playwright-core,
// against a running `palaver serve` (crates/palaver/tests/api/browser.rs starts it with the
// fake LLM). Exits non-zero when a scenario fails.
//
//   PALAVER_URL=http://127.0.0.1:8080 CHROMIUM=/usr/bin/chromium PLAYWRIGHT=<playwright-core dir> \
//     [ACCESS_TTL_SECS=30] [SCREENSHOTS=docs/screenshots] node web/tests/browser.mjs
//
// ACCESS_TTL_SECS is the server's access-token lifetime: when it is short, a scenario waits
// past it to see the silent refresh and the socket's reconnection after its 1008 close.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { deflateSync } from "node:zlib";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT);
const BASE = process.env.PALAVER_URL.replace(/\/$/, "");
const SCREENSHOTS = process.env.SCREENSHOTS;
const PASSWORD = "correct horse battery";
const WAIT = 15_000;
const ACCESS_TTL_SECS = Number(process.env.ACCESS_TTL_SECS || 900);

const started = Date.now();
const log = (...args) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...args);

function check(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

async function rawApi(method, path, token, body) {
  return fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

async function api(method, path, token, body) {
  const response = await rawApi(method, path, token, body);
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A fresh access token (they are short-lived in this suite). */
async function tokenOf(username) {
  return (await api("POST", "/auth/login", null, { username, password: PASSWORD })).access_token;
}

/** A PNG of `width` x `height`, a diagonal gradient, made here (no fixture file). */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "ascii");
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      rows[row + 1 + x * 3] = (x * 255) / width;
      rows[row + 2 + x * 3] = (y * 255) / height;
      rows[row + 3 + x * 3] = 200;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function signUp(page, username) {
  await page.goto(BASE + "/");
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Email").fill(`${username}@example.com`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: WAIT });
}

async function logIn(page, username) {
  await page.goto(BASE + "/");
  await page.getByLabel("Username or email").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: WAIT });
}

const timeline = (page) => page.getByRole("log", { name: "Messages" });
const composer = (page) => page.locator(".composer-field");

async function openRoom(page, name) {
  await page.locator(".sidebar .room", { hasText: name }).first().click();
  await page.getByRole("heading", { name: `# ${name}` }).waitFor({ timeout: WAIT });
}

async function say(page, text) {
  await composer(page).fill(text);
  await composer(page).press("Enter");
}

/** Waits until `text` is in the page's timeline, as a stored message (not the pending copy). */
async function sees(page, text) {
  await timeline(page).locator("article.msg:not(.pending)", { hasText: text }).first().waitFor({ timeout: WAIT });
}

async function countOf(page, text) {
  return timeline(page).locator("article.msg:not(.pending) .msg-body", { hasText: text }).count();
}

/** Waits until `condition()` holds, asking again every 100 ms, for at most WAIT. */
async function until(condition, what) {
  const deadline = Date.now() + WAIT;
  while (!(await condition())) {
    check(Date.now() < deadline, `${what}, within ${WAIT / 1000}s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** Resolves once the page has drawn a frame with what was just changed. */
async function painted(page) {
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
}

async function toastSays(page, text) {
  await page.locator(".toast", { hasText: text }).first().waitFor({ timeout: WAIT });
}

const results = [];
/** The open pages by name, and what each logged (socket closes, errors, failed requests). */
const pages = new Map();
async function scenario(name, run) {
  const at = Date.now();
  try {
    await run();
    results.push({ name, ok: true, ms: Date.now() - at });
    log(`PASS ${name} (${((Date.now() - at) / 1000).toFixed(1)}s)`);
  } catch (error) {
    results.push({ name, ok: false, ms: Date.now() - at, error });
    log(`FAIL ${name}: ${error.stack || error}`);
    // What each page looked like and said, to tell a flake's cause afterwards.
    const dir = process.env.FAILURE_SHOTS || tmpdir();
    for (const [who, { page, lines }] of pages) {
      const path = `${dir}/palaver-failure-${results.length}-${who}.png`;
      await page.screenshot({ path }).then(() => log(`  ${who}: ${path}`), () => {});
      log(`  ${who} said, last first:\n    ${lines.slice(-15).reverse().join("\n    ")}`);
    }
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  // Root in a container has no user namespaces for the sandbox.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const errors = [];
/** page → how many token refreshes it has made. */
const refreshes = new Map();
/** page → its WebSockets, oldest first. */
const sockets = new Map();
async function newPage(options = {}, who = null) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  const lines = [];
  const note = (text) => lines.push(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);
  if (who) pages.set(who, { page, lines });
  page.on("console", (message) => note(`${message.type()}: ${message.text()}`));
  page.on("response", (response) => response.status() >= 400 && note(`HTTP ${response.status()} ${response.request().method()} ${response.url()}`));
  page.on("websocket", () => note("socket opened"));
  refreshes.set(page, 0);
  sockets.set(page, []);
  page.on("websocket", (socket) => sockets.get(page).push(socket));
  page.on("request", (request) => {
    if (request.url().endsWith("/api/v1/auth/refresh")) refreshes.set(page, refreshes.get(page) + 1);
  });
  page.on("pageerror", (error) => errors.push(`${error.message}`));
  page.on("console", (message) => {
    // CSP violations and uncaught errors show here; a failed resource while offline does not count.
    if (message.type() === "error" && !/ERR_INTERNET_DISCONNECTED|net::ERR|Failed to load resource/.test(message.text())) {
      errors.push(message.text());
    }
  });
  page.on("dialog", (dialog) => dialog.accept());
  return { context, page };
}

/**
 * A page of the server's origin (answered here, with the server's own CSP) that loads one
 * view module of the client by itself, with no main.js and no other view: `setUp(url)` runs
 * in the page, imports the module from `url` and builds the view with a state and callbacks
 * of its own, which record what they receive in `window.calls`. `options` are the page's.
 */
async function viewAlone(who, module, setUp, options = {}) {
  const { context, page } = await newPage(options, who);
  const index = await fetch(BASE + "/");
  const assets = (await index.text()).match(/\/assets\/[0-9a-f]+\//)[0];
  const csp = index.headers.get("content-security-policy");
  await page.route(BASE + "/view-alone", (route) =>
    route.fulfill({
      contentType: "text/html",
      headers: { "content-security-policy": csp },
      body: `<!doctype html><html><head><link rel="stylesheet" href="${assets}app.css"></head><body><div id="app"></div></body></html>`,
    }));
  await page.goto(BASE + "/view-alone");
  await page.evaluate(() => (window.calls = []));
  await page.evaluate(setUp, `${assets}${module}`);
  const loaded = await page.evaluate(() =>
    performance.getEntriesByType("resource").map((entry) => new URL(entry.name).pathname.split("/").pop()).filter((name) => name.endsWith(".js")));
  const views = ["main.js", "rooms.js", "conversation.js", "composer.js", "members.js", "notifications.js", "assistant.js", "thread.js", "threads.js", "search.js"];
  const others = loaded.filter((name) => views.includes(name) && name !== module);
  check(loaded.includes(module) && others.length === 0, `${module} loads without main.js or another view, got ${loaded}`);
  return { context, page, calls: () => page.evaluate(() => window.calls) };
}

await scenario("a view on its own: the rooms column, from its state, calling back", async () => {
  const { context, page, calls } = await viewAlone("rooms-view", "rooms.js", async (url) => {
    const { createRooms } = await import(url);
    const state = {
      me: { id: "u1", username: "alice" },
      current: "r2",
      rooms: new Map([
        ["r1", { id: "r1", kind: "room", name: "general", visibility: "public", unread_count: 3, last: { author: { username: "bob" }, content: "hi there" } }],
        ["r2", { id: "r2", kind: "room", name: "secret", visibility: "private", unread_count: 0, last: null, description: "hush" }],
        ["d1", { id: "d1", kind: "dm", name: "alice, bob", visibility: "private", unread_count: 0, last: null }],
      ]),
    };
    const view = createRooms(state, { onOpen: (id) => window.calls.push(["open", id]), onEnter: (room) => window.calls.push(["enter", room.id]) });
    document.getElementById("app").append(view.element);
    view.render();
    window.view = view;
    window.viewState = state;
  });
  const sidebar = page.locator(".sidebar");
  const general = sidebar.getByRole("list", { name: "Rooms" }).getByRole("button", { name: "general, 3 unread" });
  check((await general.locator(".badge").innerText()) === "3", "an unread badge of 3");
  check((await general.locator(".room-last").innerText()) === "bob: hi there", "the last message under the name");
  const secret = sidebar.getByRole("button", { name: "secret (private)" });
  check((await secret.getAttribute("aria-current")) === "page", "the open room is marked");
  check((await secret.locator(".room-last").innerText()) === "hush", "a room with no message shows its description");
  // A DM is listed apart, under the other person's name.
  await sidebar.getByRole("list", { name: "Direct messages" }).getByRole("button", { name: "bob", exact: true }).waitFor({ timeout: WAIT });
  await general.click();
  await sidebar.getByRole("button", { name: "Assistant" }).click();
  const called = await calls();
  check(JSON.stringify(called) === JSON.stringify([["open", "r1"], ["open", "assistant"]]), `the view asked to open r1 then the assistant, got ${JSON.stringify(called)}`);
  // Redrawn from the state it was given: one entry, and which one is open.
  await page.evaluate(() => {
    window.viewState.rooms.get("r1").unread_count = 0;
    window.view.renderRoom(window.viewState.rooms.get("r1"));
    window.view.showCurrent("r1");
  });
  const read = sidebar.getByRole("button", { name: "general", exact: true });
  check((await read.locator(".badge").count()) === 0, "no badge once read");
  check((await read.getAttribute("aria-current")) === "page" && (await secret.getAttribute("aria-current")) === null, "the open mark moved");
  await context.close();
});

await scenario("a view on its own: the members column, from its state, calling back", async () => {
  const { context, page, calls } = await viewAlone("members-view", "members.js", async (url) => {
    const { createMembers } = await import(url);
    const alice = { id: "u1", username: "alice", online: true };
    const bob = { id: "u2", username: "bob", online: false, last_seen: new Date(Date.now() - 3_600_000).toISOString() };
    const roster = new Map([
      ["u1", { user: alice, role: "owner", last_read_seq: 0 }],
      ["u2", { user: bob, role: "member", last_read_seq: 0 }],
    ]);
    const room = { id: "r1", kind: "room", name: "general", visibility: "public", my_role: "owner" };
    const state = { me: alice, rooms: new Map([["r1", room]]), members: new Map(), users: new Map([["u1", alice], ["u2", bob]]) };
    const view = createMembers(state, {
      // The list arrives later, as from the server.
      loadMembers: (roomId) => new Promise((done) => setTimeout(() => done(state.members.set(roomId, roster).get(roomId)), 50)),
      onCount: (count) => window.calls.push(["count", count]),
      onDm: (userId) => window.calls.push(["dm", userId]),
      onLeave: (left) => window.calls.push(["leave", left.id]),
      onPane: (pane) => window.calls.push(["pane", pane]),
    });
    document.getElementById("app").append(view.element);
    view.open(room);
  }, { viewport: { width: 390, height: 844 } }); // a phone's width, where Leave and Back are in this column
  const aside = page.locator(".members");
  await aside.getByRole("heading", { name: "Members (2)" }).waitFor({ timeout: WAIT });
  const names = await aside.locator(".member").allInnerTexts();
  check(names[0].startsWith("alice (you)") && names[0].includes("owner · online"), `you first, online, as owner: ${JSON.stringify(names)}`);
  check(names[1].startsWith("bob") && names[1].includes("last seen 1 hour ago"), `then bob, last seen: ${JSON.stringify(names)}`);
  await aside.getByLabel("Invite someone").waitFor({ timeout: WAIT }); // an owner may invite
  await aside.getByRole("button", { name: "Message bob" }).click();
  await aside.getByRole("button", { name: "Leave this room" }).click();
  await aside.getByRole("button", { name: "Back to the conversation" }).click();
  const called = await calls();
  check(JSON.stringify(called) === JSON.stringify([["count", 2], ["dm", "u2"], ["leave", "r1"], ["pane", "chat"]]),
    `the count, then a DM with bob, leaving, back to the chat; got ${JSON.stringify(called)}`);
  await context.close();
});

const stamp = Date.now().toString(36).slice(-5);
const aliceName = `alice${stamp}`;
const bobName = `bob${stamp}`;
const { context: aliceContext, page: alice } = await newPage({}, "alice");
const { context: bobContext, page: bob } = await newPage({}, "bob");
const room = `general-${stamp}`;

await scenario("two people register and chat in real time", async () => {
  await signUp(alice, aliceName);
  await signUp(bob, bobName);
  // Alice creates a public room; Bob finds it and joins.
  await alice.locator(".sidebar").getByRole("button", { name: "Create a room" }).click();
  await alice.getByLabel("Name").fill(room);
  await alice.getByLabel("Description (optional)").fill("Everything, all the time");
  await alice.getByRole("button", { name: "Create room" }).click();
  await alice.getByRole("heading", { name: `# ${room}` }).waitFor({ timeout: WAIT });
  await bob.locator(".sidebar").getByRole("button", { name: "Browse public rooms" }).click();
  await bob.getByRole("button", { name: `Join ${room}` }).click();
  await bob.getByRole("heading", { name: `# ${room}` }).waitFor({ timeout: WAIT });

  await say(alice, "hello bob");
  await sees(bob, "hello bob");
  // Shift+Enter is a newline, Enter sends.
  await composer(bob).fill("hi alice");
  await composer(bob).press("Shift+Enter");
  await composer(bob).type("second line");
  await composer(bob).press("Enter");
  await sees(alice, "second line");
  const body = await timeline(alice).locator("article.msg", { hasText: "second line" }).locator(".msg-body").innerText();
  check(body.includes("hi alice\nsecond line"), `a two-line message, got ${JSON.stringify(body)}`);

  // Typing shows on the other side.
  await composer(bob).type("I am typ");
  await alice.getByText(`${bobName} is typing…`).waitFor({ timeout: WAIT });
  await composer(bob).fill("");

  // Members: both, online.
  await alice.locator(`.member[data-user-id] .dot.online`).nth(1).waitFor({ timeout: WAIT });
  check((await alice.locator(".member").count()) === 2, "two members listed");

  // Alice edits and deletes her own message; Bob sees both.
  const mine = timeline(alice).locator("article.msg", { hasText: "hello bob" });
  await mine.hover();
  await mine.getByRole("button", { name: "Edit message" }).click();
  await alice.getByRole("textbox", { name: "Edit message" }).fill("hello bob (fixed)");
  await alice.getByRole("textbox", { name: "Edit message" }).press("Enter");
  await timeline(bob).locator("article.msg", { hasText: "hello bob (fixed)" }).locator(".edited").waitFor({ timeout: WAIT });
  await say(alice, "a message to delete");
  await sees(bob, "a message to delete");
  const doomed = timeline(alice).locator("article.msg", { hasText: "a message to delete" });
  await doomed.hover();
  await doomed.getByRole("button", { name: "Delete message" }).click();
  await timeline(bob).getByText("This message was deleted.").waitFor({ timeout: WAIT });
  check((await countOf(bob, "a message to delete")) === 0, "the deleted text is gone for Bob");
});

await scenario("a mention with @ autocomplete notifies and is highlighted", async () => {
  await composer(bob).fill("look @" + aliceName.slice(0, 4));
  await bob.getByRole("option", { name: `@${aliceName}` }).waitFor({ timeout: WAIT });
  await composer(bob).press("Enter"); // picks the suggestion
  const value = await composer(bob).inputValue();
  check(value === `look @${aliceName} `, `completed to the username, got ${JSON.stringify(value)}`);
  await composer(bob).type("at this");
  await composer(bob).press("Enter");
  await sees(alice, "at this");
  await timeline(alice).locator("article.msg.mentions-me", { hasText: "at this" }).locator(".mention.me").waitFor({ timeout: WAIT });
  await alice.getByRole("button", { name: "Notifications, 1 unread" }).click();
  const item = alice.locator(".notification-list li.unread", { hasText: `${bobName} mentioned you in #${room}` });
  await item.waitFor({ timeout: WAIT });
  await item.getByRole("button").click();
  await alice.getByRole("button", { name: "Notifications", exact: true }).waitFor({ timeout: WAIT });
});

await scenario("links in messages open safely in a new tab", async () => {
  await say(bob, "docs at https://example.com/guide?x=1&y=2. not javascript:alert(1) nor <b>bold</b> (see http://example.org/a_(b))");
  await sees(alice, "docs at");
  const message = timeline(alice).locator("article.msg", { hasText: "docs at" });
  const links = await message.locator(".msg-body a").evaluateAll((els) =>
    els.map((a) => ({ href: a.getAttribute("href"), text: a.textContent, target: a.target, rel: a.rel })));
  check(links.length === 2, `two links, got ${JSON.stringify(links)}`);
  check(links[0].href === "https://example.com/guide?x=1&y=2" && links[0].text === "https://example.com/guide?x=1&y=2",
    `the first link without its full stop, got ${JSON.stringify(links[0])}`);
  check(links[1].href === "http://example.org/a_(b)", `brackets inside a URL are kept, the closing one outside dropped: ${JSON.stringify(links[1])}`);
  check(links.every((l) => l.target === "_blank" && l.rel === "noopener noreferrer"), "new tab, no opener, no referrer");
  check((await message.locator(".msg-body b, .msg-body script").count()) === 0, "markup stays text");
  check((await message.locator(".msg-body").innerText()).includes("<b>bold</b>"), "the markup shows as typed");
});

await scenario("a DM from a member's name, with an unread badge and the new-messages line", async () => {
  await alice.locator(".members").getByRole("button", { name: `Message ${bobName}` }).click();
  await alice.getByRole("heading", { name: `@ ${bobName}` }).waitFor({ timeout: WAIT });
  await say(alice, "a private word");
  // Bob is still in the room: the DM shows up in his list, unread.
  const dm = bob.locator(".sidebar").getByRole("button", { name: `${aliceName}, 1 unread` });
  await dm.waitFor({ timeout: WAIT });
  check((await dm.locator(".badge").innerText()) === "1", "a badge of 1");
  // With the message that started it, though that came before the room was known here.
  await dm.locator(".room-last", { hasText: `${aliceName}: a private word` }).waitFor({ timeout: WAIT });
  await say(alice, "and another");
  await bob.locator(".sidebar").getByRole("button", { name: `${aliceName}, 2 unread` }).click();
  await bob.getByRole("heading", { name: `@ ${aliceName}` }).waitFor({ timeout: WAIT });
  await sees(bob, "and another");
  // The line sits above the first unread message.
  const next = await timeline(bob).locator(".new-line + article.msg .msg-body").innerText();
  check(next === "a private word", `the new-messages line above the first unread, got ${JSON.stringify(next)}`);
  await bob.locator(".sidebar").getByRole("button", { name: aliceName, exact: true }).waitFor({ timeout: WAIT });
  await openRoom(alice, room);
  await openRoom(bob, room);
});

await scenario("an image is uploaded with progress and shown to the other person", async () => {
  const image = png(640, 400);
  // Bob's first load of the thumbnail meets an expired signed URL (the server's 403): his
  // client fetches the message again for fresh URLs and loads it from those.
  const thumbnails = /\/api\/v1\/uploads\/[^/]+\/thumbnail\?/;
  let thumbnailLoads = 0;
  await bob.route(thumbnails, (route) => {
    thumbnailLoads += 1;
    if (thumbnailLoads > 1) return route.continue();
    return route.fulfill({
      status: 403,
      contentType: "application/problem+json",
      body: JSON.stringify({ status: 403, title: "Forbidden", detail: "the URL has expired; fetch the message again", code: "forbidden" }),
    });
  });
  const refetched = bob.waitForRequest((request) => /\/messages\?after=\d+&limit=1$/.test(request.url()), { timeout: WAIT });
  await alice.locator(".composer input[type=file]").setInputFiles({ name: "gradient.png", mimeType: "image/png", buffer: image });
  const thumb = timeline(bob).locator(`article.msg .thumb img[alt="Image from ${aliceName}"]`).last();
  await thumb.waitFor({ timeout: WAIT });
  await refetched;
  await bob.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle(), { timeout: WAIT });
  check(thumbnailLoads === 2, `the thumbnail was loaded again once, after the refusal (${thumbnailLoads} loads)`);
  await bob.unroute(thumbnails);
  const natural = await thumb.evaluate((img) => img.naturalWidth);
  check(natural <= 320, `a thumbnail at most 320 px wide, got ${natural}`);
  await thumb.click();
  const full = bob.locator("dialog.lightbox img");
  await bob.waitForFunction((img) => img.complete && img.naturalWidth === 640, await full.elementHandle(), { timeout: WAIT });
  await bob.getByRole("button", { name: "Close image" }).click();
  // Clear refusals, before anything is sent.
  await alice.locator(".composer input[type=file]").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
  await toastSays(alice, "only PNG, JPEG, GIF and WebP");
  await alice.locator(".composer input[type=file]").setInputFiles({ name: "huge.png", mimeType: "image/png", buffer: Buffer.alloc(11 * 1024 * 1024) });
  await toastSays(alice, "images can be at most 10.0 MB");
  // Bytes that are not an image, named as one: the server's refusal, said plainly.
  await alice.locator(".composer input[type=file]").setInputFiles({ name: "fake.png", mimeType: "image/png", buffer: Buffer.from("not really a png") });
  await toastSays(alice, "fake.png is not a supported image");
});

await scenario("a dropped connection resumes with nothing missed or doubled", async () => {
  await bobContext.setOffline(true);
  await bob.getByRole("status").filter({ hasText: "Reconnecting…" }).waitFor({ timeout: WAIT });
  const token = await tokenOf(aliceName);
  const rooms = await api("GET", "/rooms?scope=joined", token);
  const id = rooms.items.find((r) => r.name === room).id;
  for (let n = 1; n <= 5; n++) await api("POST", `/rooms/${id}/messages`, token, { content: `while you were away ${n}` });
  await sees(alice, "while you were away 5");
  // Not a synchronisation: a window in which nothing may arrive.
  await bob.waitForTimeout(500);
  check((await countOf(bob, "while you were away")) === 0, "nothing arrives while offline");
  await bobContext.setOffline(false);
  await sees(bob, "while you were away 5");
  await bob.getByRole("status").filter({ hasText: "Reconnecting…" }).waitFor({ state: "hidden", timeout: WAIT });
  // A live one after the resume, then count: each exactly once, in order.
  await say(alice, "and now live");
  await sees(bob, "and now live");
  for (let n = 1; n <= 5; n++) check((await countOf(bob, `while you were away ${n}`)) === 1, `message ${n} shown once`);
  const seqs = await timeline(bob).locator("article.msg[data-seq]").evaluateAll((els) => els.map((el) => Number(el.dataset.seq)));
  check(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]), `seqs strictly increasing: ${seqs}`);
});

await scenario("scrolling back through 500 messages", async () => {
  let token = await tokenOf(aliceName);
  const history = await api("POST", "/rooms", token, { name: `history-${stamp}`, visibility: "public" });
  for (let n = 1; n <= 500; n += 20) {
    if (n % 100 === 1) token = await tokenOf(aliceName); // the posting outlasts a short token
    await Promise.all(
      Array.from({ length: 20 }, (_, k) => n + k).map((k) => api("POST", `/rooms/${history.id}/messages`, token, { content: `history ${k}`, client_msg_id: `h${k}` })),
    );
  }
  // Alice's page learns of the room over the socket? She created it over REST: reload to list it.
  await alice.reload();
  await openRoom(alice, `history-${stamp}`);
  await sees(alice, "history 500");
  // Scroll to the top, wait for the page above to arrive (or the beginning), again.
  const shown = () => timeline(alice).locator("article.msg[data-seq]").count();
  const edge = alice.locator(".history-edge", { hasText: "This is the beginning of the room." });
  const deadline = Date.now() + 120_000;
  while ((await edge.count()) === 0) {
    check(Date.now() < deadline, `reached the beginning in time (${await shown()} messages shown)`);
    const before = await shown();
    await timeline(alice).evaluate((el) => (el.scrollTop = 0));
    await alice.waitForFunction(
      (n) => document.querySelectorAll(".timeline article.msg[data-seq]").length > n ||
        document.querySelector(".history-edge").textContent.includes("beginning"),
      before,
      { timeout: WAIT },
    );
  }
  const seqs = await timeline(alice).locator("article.msg[data-seq]").evaluateAll((els) => els.map((el) => Number(el.dataset.seq)));
  check(seqs.length === 500, `500 messages in the timeline, got ${seqs.length}`);
  check(seqs.every((seq, i) => seq === i + 1), "seq 1 to 500, in order, none twice");
  // Each batch of 20 is posted at once, so within a batch the room's order is the server's.
  const bodies = await timeline(alice).locator("article.msg .msg-body").allInnerTexts();
  const numbers = bodies.map((body) => Number(body.replace("history ", "")));
  check(numbers.slice(0, 20).every((n) => n <= 20), `the oldest batch first, got ${numbers.slice(0, 20)}`);
  check([...numbers].sort((a, b) => a - b).every((n, i) => n === i + 1), "history 1 to 500, each once");
});

await scenario("the assistant streams a reply with a tool call, safely, and is stopped", async () => {
  await alice.getByRole("button", { name: "Assistant", exact: true }).click();
  await alice.getByRole("textbox", { name: "Ask the assistant" }).fill("What is 2 + 40?");
  await alice.getByRole("textbox", { name: "Ask the assistant" }).press("Enter");
  const reply = alice.locator(".bubble.assistant").last();
  await reply.locator("details.tool summary", { hasText: "Tool: everything__get-sum" }).waitFor({ timeout: WAIT });
  await reply.locator("details.tool pre", { hasText: "42" }).waitFor({ timeout: WAIT });
  await reply.getByText("word5").waitFor({ timeout: WAIT });
  await reply.locator("strong", { hasText: "The sum" }).waitFor({ timeout: WAIT });
  await reply.locator("pre.code code", { hasText: "const answer = 2 + 40;" }).waitFor({ timeout: WAIT });
  check((await reply.locator("img, script").count()) === 0, "model text never becomes elements");
  check((await reply.innerText()).includes("<img src=x onerror=alert(1)>"), "the HTML shows as text");
  await alice.getByRole("button", { name: "Stop" }).click();
  await reply.getByText("Stopped.").waitFor({ timeout: WAIT });
  await alice.getByRole("button", { name: "Send" }).waitFor({ timeout: WAIT });
  check(!(await reply.innerText()).includes("word199"), "stopped before the end");
  // It was stored as cancelled with the part so far.
  await alice.reload();
  await alice.locator(".bubble.assistant").last().getByText("Stopped.").waitFor({ timeout: WAIT });
});

await scenario("a reply resumes after a reload mid-stream; rename and delete", async () => {
  await alice.getByRole("button", { name: "New conversation" }).click();
  await alice.getByText("Ask anything").waitFor({ timeout: WAIT });
  await alice.getByRole("textbox", { name: "Ask the assistant" }).fill("Tell me a long story");
  await alice.getByRole("button", { name: "Send" }).click();
  await alice.locator(".bubble.assistant").last().getByText("part3").waitFor({ timeout: WAIT });
  await alice.reload();
  const reply = alice.locator(".bubble.assistant").last();
  await reply.getByText("THE END.").waitFor({ timeout: WAIT });
  const text = await reply.innerText();
  for (let n = 0; n < 40; n++) check(text.split(`part${n} `).length === 2, `part${n} exactly once after the resume`);
  // Rename, then delete.
  await alice.getByRole("button", { name: "Rename" }).click();
  await alice.getByLabel("Conversation title").fill("Sums and stories");
  await alice.getByLabel("Conversation title").press("Enter");
  await alice.getByRole("button", { name: "Sums and stories" }).waitFor({ timeout: WAIT });
  await alice.getByRole("button", { name: "Delete", exact: true }).click();
  await alice.getByRole("button", { name: "Sums and stories" }).waitFor({ state: "detached", timeout: WAIT });
});

await scenario("a private room: invisible until invited, the invitation notified, then left", async () => {
  const secret = `secret-${stamp}`;
  await alice.locator(".sidebar").getByRole("button", { name: "Create a room" }).click();
  await alice.getByLabel("Name").fill(secret);
  await alice.getByLabel("Private: members invite people").check();
  await alice.getByRole("button", { name: "Create room" }).click();
  await alice.getByRole("heading", { name: `# ${secret}` }).waitFor({ timeout: WAIT });
  await alice.locator(".sidebar").getByRole("button", { name: `${secret} (private)` }).waitFor({ timeout: WAIT });
  // Bob cannot find it, nor join it by its id.
  await bob.locator(".sidebar").getByRole("button", { name: "Browse public rooms" }).click();
  await bob.getByRole("button", { name: `Open ${room}` }).waitFor({ timeout: WAIT });
  check((await bob.locator(".browse-list li", { hasText: secret }).count()) === 0, "a private room is not listed");
  await bob.keyboard.press("Escape");
  const aliceRooms = await api("GET", "/rooms?scope=joined", await tokenOf(aliceName));
  const secretId = aliceRooms.items.find((r) => r.name === secret).id;
  // Refused: joining a private room needs an invitation (403; reading it stays 404).
  const join = await rawApi("POST", `/rooms/${secretId}/join`, await tokenOf(bobName));
  check(join.status === 403, `joining uninvited is refused, got ${join.status}`);
  const look = await rawApi("GET", `/rooms/${secretId}`, await tokenOf(bobName));
  check(look.status === 404, `a private room is not revealed, got ${look.status}`);
  // Alice invites him from the members column.
  await alice.locator(".members").getByLabel("Invite someone").fill(bobName);
  await alice.locator(".members").getByRole("button", { name: "Invite", exact: true }).click();
  await alice.locator(".members .member", { hasText: bobName }).waitFor({ timeout: WAIT });
  // Bob is told, and the room is in his list.
  const invite = bob.locator(".notification-list li.unread", { hasText: `${aliceName} added you to #${secret}` });
  await bob.locator(".sidebar").getByRole("button", { name: `${secret} (private)` }).waitFor({ timeout: WAIT });
  await bob.getByRole("button", { name: /^Notifications, \d+ unread$/ }).click();
  await invite.waitFor({ timeout: WAIT });
  await invite.getByRole("button").click();
  await bob.getByRole("heading", { name: `# ${secret}` }).waitFor({ timeout: WAIT });
  await say(alice, "for invited eyes only");
  await sees(bob, "for invited eyes only");
  // Bob leaves: gone from his list, and from Alice's members.
  await bob.locator(".conv-head").getByRole("button", { name: "Leave" }).click();
  await bob.locator(".sidebar").getByRole("button", { name: `${secret} (private)` }).waitFor({ state: "detached", timeout: WAIT });
  await alice.locator(".members .member", { hasText: bobName }).waitFor({ state: "detached", timeout: WAIT });
  const again = await rawApi("POST", `/rooms/${secretId}/join`, await tokenOf(bobName));
  check(again.status === 403, `after leaving, joining again needs a new invitation, got ${again.status}`);
});

await scenario("tokens are refreshed silently past their lifetime, and the socket follows", async () => {
  check(ACCESS_TTL_SECS <= 60, `the suite runs with a short access-token lifetime (ACCESS_TTL_SECS=${ACCESS_TTL_SECS})`);
  await openRoom(alice, room);
  await openRoom(bob, room);
  // Every text the connection badge shows from now on.
  await bob.evaluate(() => {
    const badge = document.querySelector(".connection");
    window.connectionStates = [];
    new MutationObserver(() => window.connectionStates.push(badge.textContent)).observe(badge, { childList: true, characterData: true, subtree: true });
  });
  const tokenOfSocket = (socket) => new URL(socket.url()).searchParams.get("token");
  const expiryOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString()).exp;
  const previous = tokenOfSocket(sockets.get(bob).at(-1));
  // The server closes a socket with 1008 when its token expires: the client opens the next
  // one by itself, with the token the silent refresh got.
  const next = await bob.waitForEvent("websocket", { timeout: (ACCESS_TTL_SECS + 15) * 1000 });
  await next.waitForEvent("framereceived", { predicate: (frame) => String(frame.payload).includes('"subscribed"'), timeout: WAIT });
  await say(alice, "still here after the token expired");
  await sees(bob, "still here after the token expired");
  await say(bob, "me too");
  await sees(alice, "me too");
  // Bob's page has logged in once, at the start: any newer token came from a refresh.
  check(refreshes.get(bob) >= 1, `Bob's page refreshed its token (${refreshes.get(bob)} refreshes)`);
  check(tokenOfSocket(next) !== previous && expiryOf(tokenOfSocket(next)) > expiryOf(previous),
    "the new socket carries a newer token than the one that expired");
  const states = await bob.evaluate(() => window.connectionStates);
  check(!states.some((text) => text.includes("Reconnecting")), `no "Reconnecting…" for an expired token: ${JSON.stringify(states)}`);
  check((await countOf(bob, "still here after the token expired")) === 1, "the message once");
});

await scenario("a room read to its end has no New messages line when you come back", async () => {
  // Alice read Bob's "me too" as it came: once the server has her marker there, leaving the
  // room and coming back shows no line (her marker is not the one the room loaded with).
  const token = await tokenOf(aliceName);
  const general = (await api("GET", "/rooms?scope=joined", token)).items.find((r) => r.name === room);
  await until(async () => {
    const members = await api("GET", `/rooms/${general.id}/members`, token);
    return members.items.find((m) => m.user.username === aliceName).last_read_seq === general.last_seq;
  }, "Alice's read marker reaches the newest message");
  await openRoom(alice, `history-${stamp}`);
  await openRoom(alice, room);
  await sees(alice, "me too");
  check((await timeline(alice).locator(".new-line").count()) === 0, "no New messages line in a room read to its end");
});

/** A message of the open room's timeline, as stored. */
const messageOf = (page, text) => timeline(page).locator("article.msg:not(.pending)", { hasText: text }).first();
const pane = (page) => page.locator("aside.thread-pane");
/** A reaction chip under `message`, by its emoji. */
const chip = (message, emoji) => message.locator(".reactions .reaction", { has: message.page().locator(".emoji", { hasText: emoji }) });

/** The reaction's count on that chip, or 0 when there is no chip (read at once: a chip comes and goes). */
async function reactionCount(message, emoji) {
  return message.evaluate((el, wanted) => {
    const found = [...el.querySelectorAll(".reactions .reaction")].find((c) => c.querySelector(".emoji").textContent === wanted);
    return found ? Number(found.querySelector(".count").textContent) : 0;
  }, emoji);
}

/** Opens the picker from `message`'s actions (shown on hover or focus) and picks a common emoji by name. */
async function react(page, message, name) {
  await message.hover();
  await message.getByRole("button", { name: "Add a reaction" }).click();
  await page.getByRole("dialog", { name: "Add a reaction" }).getByRole("button", { name }).click();
  await page.getByRole("dialog", { name: "Add a reaction" }).waitFor({ state: "detached", timeout: WAIT });
}

async function followedThreads(username) {
  return (await api("GET", "/threads?limit=50", await tokenOf(username))).items;
}

await scenario("a thread: replies live on both sides, counted on the root, unread in Threads until opened", async () => {
  await openRoom(alice, room);
  await openRoom(bob, room);
  await say(alice, "shall we thread this?");
  await sees(bob, "shall we thread this?");
  // Alice starts a thread from the message's actions.
  const root = messageOf(alice, "shall we thread this?");
  await root.hover();
  await root.getByRole("button", { name: "Reply in a thread" }).click();
  await pane(alice).getByRole("heading", { name: "Thread" }).waitFor({ timeout: WAIT });
  await pane(alice).locator(".thread-root", { hasText: "shall we thread this?" }).waitFor({ timeout: WAIT });
  const aliceReply = pane(alice).getByRole("textbox", { name: "Reply in the thread" });
  check(await aliceReply.evaluate((el) => el === document.activeElement), "the reply box has the focus");
  await aliceReply.fill("first reply");
  await aliceReply.press("Enter");
  await pane(alice).locator(".thread-replies article.msg", { hasText: "first reply" }).waitFor({ timeout: WAIT });
  // Bob sees the root's summary, live; the reply itself stays out of the timeline.
  const bobRoot = messageOf(bob, "shall we thread this?");
  const link = bobRoot.getByRole("button", { name: new RegExp(`^1 reply, the last at .*, from ${aliceName}: open the thread$`) });
  await link.waitFor({ timeout: WAIT });
  check((await bobRoot.locator(".thread-link .avatar").count()) === 1, "one participant's avatar");
  check((await countOf(bob, "first reply")) === 0 && (await countOf(alice, "first reply")) === 0, "a reply is not in the room's timeline");
  // The room's unread count is for top-level messages: Bob's room list shows none for a reply.
  await link.click();
  await pane(bob).locator(".thread-replies article.msg", { hasText: "first reply" }).waitFor({ timeout: WAIT });
  const bobReply = pane(bob).getByRole("textbox", { name: "Reply in the thread" });
  await bobReply.fill("second reply");
  await bobReply.press("Enter");
  await pane(alice).locator(".thread-replies article.msg", { hasText: "second reply" }).waitFor({ timeout: WAIT });
  await messageOf(alice, "shall we thread this?").getByRole("button", { name: new RegExp(`^2 replies, .*, from ${bobName} and ${aliceName}: open the thread$`) }).waitFor({ timeout: WAIT });
  await pane(alice).getByText("2 replies", { exact: true }).waitFor({ timeout: WAIT });
  // Escape closes the pane, and the focus goes back to the message box.
  await bobReply.press("Escape");
  await pane(bob).waitFor({ state: "hidden", timeout: WAIT });
  check(await composer(bob).evaluate((el) => el === document.activeElement), "Escape puts the focus back in the message box");
  // Bob follows the thread now (he replied): two more from Alice are unread for him.
  await until(async () => (await followedThreads(bobName)).length === 1, "Bob follows the thread he replied in");
  await aliceReply.fill("third reply");
  await aliceReply.press("Enter");
  await aliceReply.fill("fourth reply @" + bobName);
  await aliceReply.press("Enter");
  await messageOf(bob, "shall we thread this?").getByRole("button", { name: /^4 replies,/ }).waitFor({ timeout: WAIT });
  await until(async () => (await followedThreads(bobName))[0].unread_count === 2, "the server counts two unread replies for Bob");
  await bob.locator(".sidebar").getByRole("button", { name: "Threads, 2 unread" }).waitFor({ timeout: WAIT });
  // His notifications say so too: a reply, naming the thread.
  await bob.getByRole("button", { name: /^Notifications, \d+ unread$/ }).click();
  await bob.locator(".notification-list li.unread", { hasText: `${aliceName} replied in a thread in #${room}` }).first().waitFor({ timeout: WAIT });
  await bob.keyboard.press("Escape");
  // The Threads view lists it with its unread count; opening it reads it.
  await bob.locator(".sidebar").getByRole("button", { name: "Threads, 2 unread" }).click();
  const entry = bob.locator(".thread-list .thread-item", { hasText: "shall we thread this?" });
  await entry.getByRole("button", { name: `${aliceName} in # ${room}: shall we thread this?, 2 unread` }).click();
  await pane(bob).locator(".thread-replies article.msg", { hasText: "fourth reply" }).waitFor({ timeout: WAIT });
  await until(async () => (await followedThreads(bobName))[0].unread_count === 0, "the thread is read on the server once opened");
  await bob.locator(".sidebar").getByRole("button", { name: "Threads", exact: true }).click();
  await entry.getByRole("button", { name: `${aliceName} in # ${room}: shall we thread this?` , exact: true }).waitFor({ timeout: WAIT });
  check((await entry.locator(".badge").count()) === 0, "no unread badge in the Threads view");
  // A reply notification opens its thread.
  await bob.getByRole("button", { name: /^Notifications/ }).click();
  await bob.locator(".notification-list li", { hasText: `${aliceName} replied in a thread in #${room}` }).first().getByRole("button").click();
  await pane(bob).locator(".thread-root", { hasText: "shall we thread this?" }).waitFor({ timeout: WAIT });
  await bob.getByRole("heading", { name: `# ${room}` }).waitFor({ timeout: WAIT });
  await pane(bob).getByRole("button", { name: "Close the thread" }).click();
  await pane(bob).waitFor({ state: "hidden", timeout: WAIT });
});

await scenario("reactions: toggled and counted on both sides, live, by mouse and keyboard, after a resume", async () => {
  await openRoom(alice, room);
  await openRoom(bob, room);
  const onBob = () => messageOf(bob, "shall we thread this?");
  const onAlice = () => messageOf(alice, "shall we thread this?");
  await react(bob, onBob(), "thumbs up");
  await until(async () => (await reactionCount(onBob(), "👍")) === 1, "Bob's 👍 on his page");
  check((await chip(onBob(), "👍").getAttribute("aria-pressed")) === "true", "Bob's own reaction is marked as his");
  await until(async () => (await reactionCount(onAlice(), "👍")) === 1, "Bob's 👍 on Alice's page, live");
  check((await chip(onAlice(), "👍").getAttribute("aria-pressed")) === "false", "not Alice's");
  const title = await chip(onAlice(), "👍").getAttribute("title");
  check(title === `${bobName} reacted with 👍`, `who reacted, on hover: ${JSON.stringify(title)}`);
  // Alice adds hers by clicking the chip: two on both pages.
  await chip(onAlice(), "👍").click();
  await until(async () => (await reactionCount(onAlice(), "👍")) === 2 && (await reactionCount(onBob(), "👍")) === 2, "👍 2 on both pages");
  check((await chip(onAlice(), "👍").getAttribute("aria-pressed")) === "true", "Alice's now marked as hers");
  // A :shortcode: typed in the picker; a malformed one is refused in the dialog.
  await onAlice().hover();
  await onAlice().getByRole("button", { name: "Add a reaction" }).click();
  const picker = alice.getByRole("dialog", { name: "Add a reaction" });
  await picker.getByLabel("Another emoji or a :shortcode:").fill(":Not Valid:");
  await picker.getByRole("button", { name: "Add" }).click();
  await picker.getByRole("alert").filter({ hasText: "shortcode" }).waitFor({ timeout: WAIT });
  await picker.getByLabel("Another emoji or a :shortcode:").fill(":tada:");
  await picker.getByLabel("Another emoji or a :shortcode:").press("Enter");
  await picker.waitFor({ state: "detached", timeout: WAIT });
  await until(async () => (await reactionCount(onBob(), ":tada:")) === 1, ":tada: on Bob's page");
  // By keyboard: the chip is a button; Enter takes Bob's 👍 back, and the focus stays on it.
  await chip(onBob(), "👍").focus();
  await bob.keyboard.press("Enter");
  await until(async () => (await reactionCount(onAlice(), "👍")) === 1 && (await reactionCount(onBob(), "👍")) === 1, "👍 back to 1 on both pages");
  check((await chip(onBob(), "👍").getAttribute("aria-pressed")) === "false", "no longer Bob's");
  check(await chip(onBob(), "👍").evaluate((el) => el === document.activeElement), "the focus stays on the chip when it is redrawn");
  // While Bob is offline Alice changes hers; the replay on resume applies each change once.
  await bobContext.setOffline(true);
  await bob.getByRole("status").filter({ hasText: "Reconnecting…" }).waitFor({ timeout: WAIT });
  await chip(onAlice(), "👍").click();
  await until(async () => (await reactionCount(onAlice(), "👍")) === 0, "Alice's 👍 gone on her page");
  await react(alice, onAlice(), "heart");
  await chip(onAlice(), ":tada:").click();
  await until(async () => (await reactionCount(onAlice(), ":tada:")) === 0, ":tada: gone on Alice's page");
  await bobContext.setOffline(false);
  await until(async () => (await reactionCount(onBob(), "❤️")) === 1, "the ❤️ made while Bob was away");
  await until(async () => (await reactionCount(onBob(), "👍")) === 0 && (await reactionCount(onBob(), ":tada:")) === 0, "the removals made while Bob was away");
  // The server agrees with what the pages show.
  const general = (await api("GET", "/rooms?scope=joined", await tokenOf(bobName))).items.find((r) => r.name === room);
  const page = await api("GET", `/rooms/${general.id}/messages?limit=50`, await tokenOf(bobName));
  const stored = page.items.find((m) => m.content === "shall we thread this?");
  check(JSON.stringify(stored.reactions.map((r) => [r.emoji, r.count])) === JSON.stringify([["❤️", 1]]), `the stored reactions: ${JSON.stringify(stored.reactions)}`);
  // A reaction on a reply, in the thread pane of both.
  await onAlice().getByRole("button", { name: /^4 replies,/ }).click();
  await onBob().getByRole("button", { name: /^4 replies,/ }).click();
  const replyOn = (page) => pane(page).locator(".thread-replies article.msg", { hasText: "second reply" });
  await replyOn(alice).waitFor({ timeout: WAIT });
  await react(alice, replyOn(alice), "party popper");
  await until(async () => (await reactionCount(replyOn(bob), "🎉")) === 1, "a reaction on a reply, seen in Bob's thread pane");
  await until(async () => (await reactionCount(replyOn(alice), "🎉")) === 1, "and in Alice's");
  for (const page of [alice, bob]) {
    await pane(page).getByRole("button", { name: "Close the thread" }).click();
    await pane(page).waitFor({ state: "hidden", timeout: WAIT });
  }
});

const searchBox = (page) => page.getByRole("textbox", { name: "Search messages" });
const searchView = (page) => page.locator("section.search-view");
const hits = (page) => searchView(page).locator(".search-results .hit");
const searchStatus = (page) => searchView(page).locator(".search-status");

/** Types `q` in the open search box and waits for its answer: the hits shown, or the empty state. */
async function search(page, q) {
  await searchBox(page).fill(q);
  await searchBox(page).press("Enter");
  await until(async () => (await searchView(page).locator(".search-results[aria-busy]").count()) === 0 &&
    /message|match/.test(await searchStatus(page).innerText().catch(() => "")) || (await searchView(page).locator(".search-error").innerText()) !== "",
    `the answer to ${JSON.stringify(q)}`);
}

/** The texts of each hit's <mark>s. */
async function marksOf(page) {
  return hits(page).evaluateAll((els) => els.map((el) => [...el.querySelectorAll(".hit-snippet mark")].map((m) => m.textContent)));
}

await scenario("search: accents and Chinese found, matches marked, filters, more results, jumps to a message and a reply, a bad query, nothing found", async () => {
  const token = await tokenOf(aliceName);
  const joined = (await api("GET", "/rooms?scope=joined&limit=100", token)).items;
  const general = joined.find((r) => r.name === room);
  const history = joined.find((r) => r.name === `history-${stamp}`);
  await api("POST", `/rooms/${general.id}/messages`, token, { content: "Rendez-vous au Café de la Gare à midi, comme d'habitude" });
  await api("POST", `/rooms/${general.id}/messages`, token, { content: "a zebra crossed the general room" });
  // Away from the room in the screenshots: the machines that make them may have no CJK font.
  await api("POST", `/rooms/${history.id}/messages`, token, { content: "我们明天在北京开会，别迟到" });
  await api("POST", `/rooms/${history.id}/messages`, token, { content: "a zebra crossed the history room" });
  const form = new FormData();
  form.append("file", new Blob([png(64, 40)], { type: "image/png" }), "zebra.png");
  const uploaded = await fetch(`${BASE}/api/v1/uploads`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  check(uploaded.status === 201, `the image is uploaded: ${uploaded.status}`);
  await api("POST", `/rooms/${general.id}/messages`, token, { content: "a zebra in a picture", upload_id: (await uploaded.json()).id });
  await openRoom(alice, room);
  await sees(alice, "a zebra in a picture");

  // Ctrl+K from the message box opens the search; Escape closes it, back to the room.
  await composer(alice).focus();
  await alice.keyboard.press("Control+K");
  await searchBox(alice).waitFor({ timeout: WAIT });
  check(await searchBox(alice).evaluate((el) => el === document.activeElement), "Ctrl+K puts the focus in the search box");
  await alice.keyboard.press("Escape");
  await searchView(alice).waitFor({ state: "hidden", timeout: WAIT });
  await alice.getByRole("heading", { name: `# ${room}` }).waitFor({ timeout: WAIT });
  // "/" outside a field opens it too, and is not typed into the box; in a field it is a character.
  await composer(alice).fill("a");
  await composer(alice).press("/");
  check((await composer(alice).inputValue()) === "a/" && (await searchView(alice).isHidden()), "/ in the message box is typed");
  await composer(alice).fill("");
  await timeline(alice).focus();
  await alice.keyboard.press("/");
  await searchBox(alice).waitFor({ timeout: WAIT });
  check(await searchBox(alice).evaluate((el) => el === document.activeElement && el.value === ""), "/ opens the search, empty and focused");

  // Accents do not matter, and a slow answer shows that it is on its way.
  await alice.route("**/api/v1/search?**", async (route) => {
    await new Promise((done) => setTimeout(done, 400));
    await route.continue();
  });
  await searchBox(alice).fill("cafe");
  await searchBox(alice).press("Enter");
  await searchStatus(alice).filter({ hasText: "Searching…" }).waitFor({ timeout: WAIT });
  await searchStatus(alice).filter({ hasText: "1 message" }).waitFor({ timeout: WAIT });
  await alice.unroute("**/api/v1/search?**");
  check(JSON.stringify(await marksOf(alice)) === JSON.stringify([["Café"]]), `"cafe" finds and marks "Café": ${JSON.stringify(await marksOf(alice))}`);
  const first = hits(alice).first();
  check((await first.locator(".hit-room").innerText()) === `# ${room}`, "the hit names its room");
  check((await first.locator(".hit-author").innerText()) === aliceName, "and its author");
  check((await first.locator("time").count()) === 1, "and its time");
  check((await first.locator(".hit-snippet").innerText()).includes("Rendez-vous au Café de la Gare"), "the snippet is the message's text");
  // Chinese, found inside a run of characters.
  await search(alice, "北京");
  check(JSON.stringify(await marksOf(alice)) === JSON.stringify([["北京"]]), `"北京" marked: ${JSON.stringify(await marksOf(alice))}`);
  check((await hits(alice).first().locator(".hit-room").innerText()) === `# history-${stamp}`, "in the room it was said in");
  // Markup in a message stays text in the snippet.
  await search(alice, "bold");
  check((await hits(alice).count()) === 1 && (await hits(alice).first().locator(".hit-snippet b, .hit-snippet script").count()) === 0, "no markup in a snippet");
  check((await hits(alice).first().locator(".hit-snippet").innerText()).includes("<b>bold</b>"), "the markup shows as typed");

  // Filters: an image, this room, a date from which nothing was said, the order.
  await search(alice, "zebra");
  check((await hits(alice).count()) === 3, `three zebras in two rooms, got ${await hits(alice).count()}`);
  await searchView(alice).getByLabel("Has an image").check();
  await until(async () => (await hits(alice).count()) === 1, "only the zebra with a picture");
  await hits(alice).first().locator(".tag", { hasText: "image" }).waitFor({ timeout: WAIT });
  await searchView(alice).getByLabel("Has an image").uncheck();
  await until(async () => (await hits(alice).count()) === 3, "the three zebras again");
  await searchView(alice).getByRole("combobox", { name: "In which room" }).selectOption({ label: `# ${room} (this room)` });
  await until(async () => (await hits(alice).count()) === 2, "two zebras in this room");
  check((await hits(alice).locator(".hit-room").allInnerTexts()).every((text) => text === `# ${room}`), "both in this room");
  await searchView(alice).getByRole("combobox", { name: "In which room" }).selectOption({ label: "All rooms" });
  await until(async () => (await hits(alice).count()) === 3, "all rooms again");
  const relevance = alice.waitForRequest((request) => request.url().includes("/api/v1/search?") && request.url().includes("sort=relevance"), { timeout: WAIT });
  await searchView(alice).getByRole("combobox", { name: "Sort by" }).selectOption({ label: "Best match" });
  await relevance;
  await until(async () => (await hits(alice).count()) === 3, "the same three, best first");
  await searchView(alice).getByRole("combobox", { name: "Sort by" }).selectOption({ label: "Newest first" });
  const later = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
  await searchView(alice).getByLabel("Since").fill(later);
  await searchStatus(alice).filter({ hasText: "No messages match “zebra”." }).waitFor({ timeout: WAIT });
  check((await hits(alice).count()) === 0, "nothing since a day to come");
  await searchView(alice).getByLabel("Since").fill("");
  await until(async () => (await hits(alice).count()) === 3, "without the date, the three again");

  // More results on demand, none twice.
  await search(alice, "history");
  check((await hits(alice).count()) === 20, `a first page of 20, got ${await hits(alice).count()}`);
  await searchStatus(alice).filter({ hasText: "20 messages, more below" }).waitFor({ timeout: WAIT });
  await searchView(alice).getByRole("button", { name: "Load more results" }).click();
  await until(async () => (await hits(alice).count()) === 40, "40 after Load more");
  const ids = await hits(alice).evaluateAll((els) => els.map((el) => el.dataset.messageId));
  check(new Set(ids).size === 40, "each hit once");

  // Nothing found, and a query the server cannot read: its reason, next to the box.
  await search(alice, "nothingmatchesthis");
  await searchStatus(alice).filter({ hasText: "No messages match “nothingmatchesthis”." }).waitFor({ timeout: WAIT });
  const refused = await rawApi("GET", `/search?q=${encodeURIComponent('"unbalanced')}`, await tokenOf(aliceName));
  check(refused.status === 422, `an unbalanced quote is refused: ${refused.status}`);
  const why = (await refused.json()).errors[0].message;
  await search(alice, '"unbalanced');
  const shown = await searchView(alice).getByRole("alert").innerText();
  check(shown === why && why.length > 0, `the reason shown is the server's: ${JSON.stringify(shown)} vs ${JSON.stringify(why)}`);
  check((await searchBox(alice).getAttribute("aria-invalid")) === "true", "the box is marked invalid");
  check((await hits(alice).count()) === 0, "no hits under a refusal");

  // A hit by the keyboard: Down from the box, Enter; the room opens at that old message.
  await search(alice, '"history 7"');
  check((await hits(alice).count()) === 1, `one "history 7", got ${await hits(alice).count()}`);
  await searchBox(alice).press("ArrowDown");
  check(await hits(alice).first().evaluate((el) => el === document.activeElement), "Down moves to the first hit");
  await alice.keyboard.press("Enter");
  await alice.getByRole("heading", { name: `# history-${stamp}` }).waitFor({ timeout: WAIT });
  // Read at once: the mark lasts a few seconds.
  const target = timeline(alice).locator("article.msg.flash", { hasText: "history 7" });
  await target.waitFor({ timeout: WAIT });
  const jumped = await target.evaluate((el) => ({ text: el.querySelector(".msg-body").textContent, focused: el === document.activeElement }));
  check(jumped.text === "history 7", `the message jumped to is marked: ${JSON.stringify(jumped)}`);
  check(jumped.focused, "and has the focus");
  check((await countOf(alice, "history 500")) === 0, "the timeline holds the history around it, not the newest");
  // Scrolling down brings newer pages; the newest at once from the button.
  const newestShown = () => timeline(alice).locator("article.msg[data-seq]").evaluateAll((els) => Math.max(...els.map((el) => Number(el.dataset.seq))));
  const before = await newestShown();
  await timeline(alice).evaluate((el) => (el.scrollTop = el.scrollHeight));
  await until(async () => (await newestShown()) > before, "a newer page as the timeline is scrolled down");
  await alice.getByRole("button", { name: "Jump to the newest messages" }).click();
  await sees(alice, "a zebra crossed the history room");
  await alice.getByRole("button", { name: "Jump to the newest messages" }).waitFor({ state: "hidden", timeout: WAIT });

  // A reply: its thread opens beside its room, the reply marked.
  await alice.keyboard.press("Control+K");
  await search(alice, "second reply");
  check((await hits(alice).count()) === 1, `one "second reply", got ${await hits(alice).count()}`);
  await hits(alice).first().locator(".tag", { hasText: "in a thread" }).waitFor({ timeout: WAIT });
  await hits(alice).first().click();
  await alice.getByRole("heading", { name: `# ${room}` }).waitFor({ timeout: WAIT });
  await pane(alice).locator(".thread-replies article.msg.flash", { hasText: "second reply" }).waitFor({ timeout: WAIT });
  await pane(alice).locator(".thread-root", { hasText: "shall we thread this?" }).waitFor({ timeout: WAIT });
  await pane(alice).getByRole("button", { name: "Close the thread" }).click();
  await pane(alice).waitFor({ state: "hidden", timeout: WAIT });

  // The search keeps its query and hits; on a phone it is a screen of its own.
  await alice.keyboard.press("Control+K");
  check((await searchBox(alice).inputValue()) === "second reply" && (await hits(alice).count()) === 1, "the last search is still there");
  await alice.keyboard.press("Escape");
  await alice.getByRole("heading", { name: `# ${room}` }).waitFor({ timeout: WAIT });
  // A session of its own (a copy of this one's refresh token would be a reuse, ending both).
  const { page: phone } = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }, "alice-phone");
  try {
    await logIn(phone, aliceName);
    await phone.getByRole("button", { name: "Search messages" }).tap();
    await search(phone, "cafe");
    check(await hits(phone).first().isVisible() && !(await phone.locator(".sidebar").isVisible()), "the hits take the screen");
    const fits = await phone.evaluate(() => document.documentElement.scrollWidth <= innerWidth && [...document.querySelectorAll(".search-scroll")].every((el) => el.scrollWidth <= el.clientWidth));
    check(fits, "nothing wider than the phone");
    await hits(phone).first().tap();
    await timeline(phone).locator("article.msg.flash", { hasText: "Café de la Gare" }).waitFor({ timeout: WAIT });
  } finally {
    pages.delete("alice-phone");
    await phone.context().close();
  }
});

await scenario("log out, log in again, and a reload keeps you logged in", async () => {
  await bob.reload();
  await bob.getByRole("button", { name: "Log out" }).waitFor({ timeout: WAIT });
  await bob.getByRole("button", { name: "Log out" }).click();
  await bob.getByRole("heading", { name: "Log in to Palaver" }).waitFor({ timeout: WAIT });
  check((await bob.evaluate(() => localStorage.length)) === 0, "nothing left in storage after logout");
  await logIn(bob, bobName);
  await openRoom(bob, room);
  await sees(bob, "and now live");
});

if (SCREENSHOTS) {
  await scenario("screenshots", async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await openRoom(alice, room);
    await timeline(alice).evaluate((el) => (el.scrollTop = el.scrollHeight));
    await painted(alice);
    await alice.screenshot({ path: `${SCREENSHOTS}/desktop-light.png` });
    await alice.emulateMedia({ colorScheme: "dark" });
    await painted(alice);
    await alice.screenshot({ path: `${SCREENSHOTS}/desktop-dark.png` });
    await alice.getByRole("button", { name: "Assistant", exact: true }).click();
    await alice.locator(".bubble.assistant").first().waitFor({ timeout: WAIT });
    await alice.screenshot({ path: `${SCREENSHOTS}/assistant-dark.png` });
    await alice.emulateMedia({ colorScheme: "light" });
    // A thread open beside its room, with reactions on the root and a reply.
    await openRoom(alice, room);
    await messageOf(alice, "shall we thread this?").getByRole("button", { name: /^4 replies,/ }).click();
    await pane(alice).locator(".thread-replies article.msg", { hasText: "fourth reply" }).waitFor({ timeout: WAIT });
    await messageOf(alice, "shall we thread this?").scrollIntoViewIfNeeded();
    await alice.mouse.move(0, 0);
    await painted(alice);
    await alice.screenshot({ path: `${SCREENSHOTS}/thread-light.png` });
    await pane(alice).getByRole("button", { name: "Close the thread" }).click();
    // Search results in two rooms, the matches marked, one with an image.
    await alice.keyboard.press("Control+K");
    await search(alice, "zebra");
    await alice.mouse.move(0, 0);
    await painted(alice);
    await alice.screenshot({ path: `${SCREENSHOTS}/search-light.png` });
    await alice.keyboard.press("Escape");
    const { page: phone } = await newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, storageState: await aliceContext.storageState() });
    await phone.goto(BASE + "/");
    await phone.getByRole("button", { name: "Log out" }).waitFor({ timeout: WAIT });
    await phone.locator(".sidebar .room", { hasText: room }).first().click();
    await sees(phone, "and now live");
    // Away from the messages: a message under the pointer shows its actions.
    await phone.mouse.move(0, 0);
    await painted(phone);
    await phone.screenshot({ path: `${SCREENSHOTS}/phone.png` });
    // A thread on a phone: a screen of its own, closed back to the conversation.
    await timeline(phone).getByRole("button", { name: /^4 replies,/ }).click();
    await pane(phone).locator(".thread-replies article.msg", { hasText: "fourth reply" }).waitFor({ timeout: WAIT });
    check(!(await timeline(phone).isVisible()), "the thread takes the whole screen");
    await phone.mouse.move(0, 0);
    await painted(phone);
    await phone.screenshot({ path: `${SCREENSHOTS}/phone-thread.png` });
    await pane(phone).getByRole("button", { name: "Close the thread" }).click();
    await timeline(phone).waitFor({ timeout: WAIT });
    await phone.getByRole("button", { name: "Back to rooms" }).click();
    await phone.screenshot({ path: `${SCREENSHOTS}/phone-rooms.png` });
    await phone.getByRole("button", { name: "Search messages" }).click();
    await search(phone, "cafe");
    await painted(phone);
    await phone.screenshot({ path: `${SCREENSHOTS}/phone-search.png` });
    await phone.context().close();
  });
}

check(true, "");
await browser.close();
const failed = results.filter((r) => !r.ok);
if (errors.length) {
  log(`errors in the pages:\n  ${errors.join("\n  ")}`);
}
log(`${results.length - failed.length}/${results.length} scenarios passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
if (failed.length || errors.length) process.exit(1);
console.log("all browser scenarios passed");
