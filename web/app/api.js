// The REST client: tokens, silent refresh and problem+json errors.
//
// The access token lives in memory only. The refresh token is kept in localStorage so a
// reload keeps you logged in (the server has no cookie session): it is single-use
// (rotated on every refresh, and reusing an old one revokes the whole family), and the
// page's strict Content-Security-Policy and DOM-only rendering leave no room for
// injected script to read it. Refreshes are serialised: one in flight per tab, and
// across tabs by a Web Lock, each reading the newest token from storage first.

const STORAGE_KEY = "palaver.refresh_token";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
    this.errors = (problem && problem.errors) || [];
    this.retryAfter = problem && problem.retryAfter;
  }
}

export const session = { user: null, access: null, expiresAt: 0, lifetime: 0 };
export const authEvents = new EventTarget();

let refreshing = null;
let refreshTimer = null;

export function hasStoredSession() {
  return !!localStorage.getItem(STORAGE_KEY);
}

async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && response.headers.get("retry-after")) body.retryAfter = Number(response.headers.get("retry-after"));
  return new ApiError(response.status, body);
}

function adopt(pair) {
  session.access = pair.access_token;
  session.lifetime = pair.expires_in * 1000;
  session.expiresAt = Date.now() + session.lifetime;
  session.user = pair.user;
  localStorage.setItem(STORAGE_KEY, pair.refresh_token);
  clearTimeout(refreshTimer);
  // Well before expiry (a minute, or a fifth of a short lifetime), so requests and the
  // socket never meet an expired token.
  const delay = Math.max(1000, session.lifetime - Math.min(60_000, session.lifetime * 0.2));
  refreshTimer = setTimeout(() => refresh().catch(() => {}), delay);
  authEvents.dispatchEvent(new Event("tokens"));
}

function forget() {
  clearTimeout(refreshTimer);
  session.user = null;
  session.access = null;
  session.expiresAt = 0;
  session.lifetime = 0;
  localStorage.removeItem(STORAGE_KEY);
}

async function credentials(path, body) {
  const response = await fetch(BASE + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await problemOf(response);
  adopt(await response.json());
  return session.user;
}

export const register = (username, email, password) => credentials("/auth/register", { username, email, password });

export function login(identifier, password) {
  const who = identifier.includes("@") ? { email: identifier } : { username: identifier };
  return credentials("/auth/login", { ...who, password });
}

/** A fresh token pair; one refresh at a time, so a rotated token is never sent twice. */
export function refresh() {
  if (!refreshing) {
    const run = () => refreshOnce();
    const locked = navigator.locks ? navigator.locks.request("palaver-refresh", run) : run();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function refreshOnce(retried = false) {
  const token = localStorage.getItem(STORAGE_KEY);
  if (!token) throw signedOut();
  let response;
  try {
    response = await fetch(BASE + "/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
    });
  } catch (error) {
    // Offline: keep the token and try again later.
    console.info("palaver: token refresh failed (network); retrying in 5 s");
    retryRefreshSoon();
    throw error;
  }
  if (response.status === 401) {
    // Another tab (without Web Locks) may have rotated it under us: use the newer one once.
    if (!retried && localStorage.getItem(STORAGE_KEY) !== token) return refreshOnce(true);
    throw signedOut();
  }
  if (!response.ok) {
    // 429 or 503: the token is still good; ask again shortly.
    console.info(`palaver: token refresh failed (${response.status}); retrying in 5 s`);
    retryRefreshSoon();
    throw await problemOf(response);
  }
  adopt(await response.json());
}

function retryRefreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), 5000);
}

function signedOut() {
  forget();
  authEvents.dispatchEvent(new Event("signedout"));
  return new ApiError(401, { detail: "Your session has ended; please log in again." });
}

/** Whether the access token has less than 15 s (or a quarter of a short lifetime) left. */
export function tokenExpiring() {
  return !session.access || Date.now() > session.expiresAt - Math.min(15_000, session.lifetime * 0.25);
}

/** A valid access token, refreshed first if it is about to expire. */
export async function accessToken() {
  if (tokenExpiring()) await refresh();
  return session.access;
}

export async function logout() {
  const token = localStorage.getItem(STORAGE_KEY);
  try {
    if (token) await request("POST", "/auth/logout", { refresh_token: token });
  } finally {
    forget();
    authEvents.dispatchEvent(new Event("signedout"));
  }
}

/** JSON in, JSON out (null for 204); a 401 gets one refresh and one retry. */
export async function request(method, path, body, retried = false) {
  const token = await accessToken();
  const init = { method, headers: { authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, init);
  if (response.status === 401 && !retried) {
    await refresh();
    return request(method, path, body, true);
  }
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

/** `fetch` with the bearer token, for streams (the assistant's SSE). */
export async function authorizedFetch(path, init = {}, retried = false) {
  const token = await accessToken();
  const headers = { ...(init.headers || {}), authorization: `Bearer ${token}` };
  const response = await fetch(BASE + path, { ...init, headers });
  if (response.status === 401 && !retried) {
    await refresh();
    return authorizedFetch(path, init, true);
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

/**
 * Uploads an image with XMLHttpRequest, whose upload events give progress (fetch has none).
 * Resolves to the Attachment.
 */
export async function upload(file, onProgress, signal) {
  const token = await accessToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", BASE + "/uploads");
    xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      if (xhr.status === 201) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: "The upload failed: the network is unreachable." }));
    xhr.onabort = () => reject(new ApiError(0, { detail: "Upload cancelled." }));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    const form = new FormData();
    form.append("file", file, file.name || "image");
    xhr.send(form);
  });
}

/** A readable sentence for an error. */
export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 429) return `Slow down: try again in ${error.retryAfter || "a few"} seconds.`;
    if (error.errors.length) return error.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    return error.message;
  }
  return "The server cannot be reached.";
}
