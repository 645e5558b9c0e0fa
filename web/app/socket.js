// The WebSocket: connect, keep alive, reconnect with backoff. Resuming by seq is the
// caller's part (`onOpen` resubscribes each room with the last seq it has applied).

import { accessToken, refresh, session, tokenExpiring } from "./api.js";

const PING_EVERY = 25_000;
const SILENCE_LIMIT = 60_000;

export class Socket {
  constructor({ onFrame, onOpen, onState }) {
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.nextId = 1;
    this.pending = new Map();
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.lastPolicyClose = 0;
    addEventListener("online", () => this.reconnectNow());
    addEventListener("offline", () => this.drop());
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  get open() {
    return this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame (dropped while disconnected: what matters is replayed on resume); whether it went. */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame with an `id` and resolves with the reply that carries it. */
  call(frame) {
    if (!this.open) return Promise.reject(new Error("not connected"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    clearTimeout(this.retryTimer);
    if (!this.ws) this.connect();
  }

  /** `quiet`: a new socket for an expired token, which the user need not hear about. */
  async connect(quiet = false) {
    if (this.stopped || this.ws) return;
    if (!quiet) this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token;
    try {
      token = await accessToken();
    } catch {
      return this.retry();
    }
    if (this.stopped || this.ws) return;
    // When this socket's token runs out, as this client reckons it.
    const tokenExpiresAt = session.expiresAt;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws?token=${encodeURIComponent(token)}`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.onState("open");
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(), PING_EVERY);
      this.onOpen();
    };
    ws.onmessage = (event) => {
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.id !== undefined && this.pending.has(frame.id)) {
        const waiter = this.pending.get(frame.id);
        this.pending.delete(frame.id);
        if (frame.type === "error") waiter.reject(Object.assign(new Error(frame.message), { code: frame.code }));
        else waiter.resolve(frame);
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      console.info(`palaver: socket closed (${event.code}${event.reason ? ` ${event.reason}` : ""})`);
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      for (const waiter of this.pending.values()) waiter.reject(new Error("disconnected"));
      this.pending.clear();
      if (this.stopped) return;
      // 1008: the token this socket was opened with expired. Straight back, without showing
      // "reconnecting": with the newer token when the silent refresh already got one,
      // else after a refresh (at most once in 10 s: a revoked session must not spin).
      // A close at that moment counts too, whatever its code: one that arrives without
      // its close frame (1006) is still the expiry.
      if (event.code === 1008 || Date.now() >= tokenExpiresAt - 2000) {
        if (session.access !== token && !tokenExpiring()) return this.connect(true);
        if (Date.now() - this.lastPolicyClose > 10_000) {
          this.lastPolicyClose = Date.now();
          refresh().then(() => this.connect(true), () => this.retry());
          return;
        }
      }
      this.retry();
    };
  }

  /** Gives up on the current socket now, without waiting for a close handshake. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close();
    clearInterval(this.pingTimer);
    for (const waiter of this.pending.values()) waiter.reject(new Error("disconnected"));
    this.pending.clear();
    this.retry();
  }

  retry() {
    if (this.stopped) return;
    this.onState("reconnecting");
    const base = Math.min(15_000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  keepAlive() {
    if (!this.open) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT) {
      this.drop();
      return;
    }
    this.send({ type: "ping" });
  }
}
