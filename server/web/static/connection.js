// One session's room socket that survives disconnects without losing or repeating an event.
//
// Every (re)connection asks for fresh connection details and, after the first, sends
// last_seq + epoch. Room events at or below last_seq are dropped. When the server cannot replay
// what was missed (welcome.resumed is false) the gap is filled from the persisted transcript
// before any live frame of the new socket is applied, so the view sees one ordered stream.
// See docs/protocol.md, "Sequence numbers and resume" and "Close codes".

import * as api from "./api.js";

// protocol/errors.py FINAL_CLOSE_CODES: reconnecting would not help.
export const FINAL_CLOSE_CODES = new Set([4401, 4403, 4410]);

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;
// A ping every 20 s keeps proxies from closing an idle socket; one left unanswered until the
// next is due means the connection is dead without having been closed (a network that went
// away sends no FIN), and a new one is opened.
const PING_EVERY_MS = 20000;
const PAGE = 500;
// The transcript is written shortly after the room sees an event, so a reload may find the
// newest ones missing and waits for them. Only agent.delta events are never written: while a
// tutor turn is open the head may be one, and the wait is cut short.
const TRANSCRIPT_WAIT_MS = 250;
const TRANSCRIPT_WAITS = 12;
const TRANSCRIPT_WAITS_IN_TURN = 2;
const TERMINAL_TYPES = new Set(["agent.done", "agent.error"]);
// Frames worth keeping while offline; typing and ping are only meaningful now.
const KEPT_WHILE_OFFLINE = new Set(["chat", "ask", "answer", "cancel"]);
// Error codes that mean a frame was dropped rather than applied.
const REFUSALS = new Set([
  "invalid_frame",
  "rate_limited",
  "not_allowed",
  "unavailable",
  "internal",
]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class RoomConnection {
  // handlers: welcome(frame, {first}), event(frame, {reloaded}), ephemeral(frame), gap(),
  // reset(), failed(frame), status(state), final(code, reason);
  // state is one of connecting, live, reconnecting, closed.
  constructor(sessionId, handlers) {
    this.sessionId = sessionId;
    this.on = handlers;
    this.lastSeq = null;
    this.epoch = null;
    this.ws = null;
    this.state = null;
    this.stopped = false;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.timer = null;
    this.pinger = null;
    this.inbox = null; // frames that arrived while the welcome was being handled
    this.catchUpTo = null; // replay head; unconfirmed frames are resent once it is reached
    this.outbox = []; // frames without a client_msg_id, waiting for a connection
    this.unconfirmed = new Map(); // client_msg_id -> frame whose room event has not come back
    this.inFlight = new Set(); // client_msg_ids written on the current socket
    this.openTurns = new Set(); // turn_ids started and not yet ended
    this.wake = () => this.retryNow();
  }

  start() {
    window.addEventListener("online", this.wake);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.setState("closed");
  }

  get live() {
    return this.state === "live";
  }

  // Sends now, or keeps chat/ask/answer/cancel for the next connection. A frame with a
  // client_msg_id is sent again after a reconnect unless its room event came back meanwhile.
  send(frame) {
    if (frame.client_msg_id) this.unconfirmed.set(frame.client_msg_id, frame);
    if (this.live && this.catchUpTo === null) return this.write(frame);
    if (!frame.client_msg_id && KEPT_WHILE_OFFLINE.has(frame.type)) this.outbox.push(frame);
    return false;
  }

  write(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    if (frame.client_msg_id) this.inFlight.add(frame.client_msg_id);
    return true;
  }

  retryNow() {
    if (this.stopped || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.on.status(state);
  }

  async connect() {
    this.timer = null;
    if (this.stopped) return;
    this.setState(this.lastSeq === null ? "connecting" : "reconnecting");
    let details;
    try {
      details = await api.connectionDetails(this.sessionId);
    } catch (error) {
      if (error.status === 401) return this.finish(4401, error.message);
      if (error.status === 403 || error.status === 404) return this.finish(4403, error.message);
      if (error.status === 409) return this.finish(4410, error.message);
      return this.retryLater();
    }
    if (this.stopped) return;
    const query = new URLSearchParams({ token: details.participant_token });
    if (this.lastSeq !== null) {
      query.set("last_seq", String(this.lastSeq));
      if (this.epoch) query.set("epoch", this.epoch);
    }
    const ws = new WebSocket(`${details.server_url}?${query}`);
    this.ws = ws;
    this.inbox = [];
    this.inFlight = new Set();
    let welcomed = false;
    ws.addEventListener("message", (message) => {
      if (ws !== this.ws || typeof message.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!welcomed) {
        if (frame.type !== "welcome") return;
        welcomed = true;
        this.welcomed(ws, frame);
      } else if (this.inbox) {
        this.inbox.push(frame);
      } else {
        this.receive(frame);
      }
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pinger);
      if (this.stopped) return;
      if (FINAL_CLOSE_CODES.has(event.code)) this.finish(event.code, event.reason);
      else this.retryLater();
    });
  }

  async welcomed(ws, welcome) {
    const first = this.lastSeq === null;
    const head = welcome.seq;
    this.on.welcome(welcome, { first });
    try {
      if (first) {
        await this.reload(0, head);
      } else if (!welcome.resumed) {
        // The events after last_seq are gone from the live log: the transcript has them.
        if (this.lastSeq > head) {
          this.openTurns.clear();
          this.on.reset();
          await this.reload(0, head);
        } else {
          this.on.gap();
          await this.reload(this.lastSeq, head);
        }
      }
    } catch {
      // Without the missed events the stream would have a hole: start over on a new socket.
      if (ws === this.ws) ws.close(4000);
      return;
    }
    if (ws !== this.ws) return;
    this.epoch = welcome.epoch || null;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.catchUpTo = this.lastSeq < head ? head : null;
    const waiting = this.inbox;
    this.inbox = null;
    this.setState("live");
    for (const frame of waiting) this.receive(frame);
    if (this.catchUpTo === null) this.flush();
    this.watch(ws);
  }

  watch(ws) {
    let heardAt = Date.now();
    let pingedAt = 0;
    ws.addEventListener("message", () => {
      heardAt = Date.now();
    });
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (pingedAt > heardAt) {
        this.abandon(ws);
        return;
      }
      pingedAt = Date.now();
      this.write({ type: "ping" });
    }, PING_EVERY_MS);
  }

  // Closing a dead socket waits for a handshake that never comes: let it go and move on.
  abandon(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.pinger);
    ws.close(4000);
    this.retryLater();
  }

  // Transcript rows in (after, head], in order; afterwards last_seq is head.
  async reload(after, head) {
    let cursor = after;
    let waits = 0;
    while (cursor < head) {
      const rows = await api.messages(this.sessionId, cursor, PAGE);
      if (this.stopped) throw new Error("the room was left during a reload");
      const fresh = rows.filter((row) => row.seq > cursor && row.seq <= head);
      for (const row of fresh) {
        cursor = row.seq;
        this.deliver(row, true);
      }
      if (fresh.length > 0) continue;
      if (waits >= (this.openTurns.size ? TRANSCRIPT_WAITS_IN_TURN : TRANSCRIPT_WAITS)) break;
      waits += 1;
      await sleep(TRANSCRIPT_WAIT_MS);
      if (this.stopped) throw new Error("the room was left during a reload");
    }
    this.lastSeq = Math.max(this.lastSeq ?? 0, head);
  }

  receive(frame) {
    if (typeof frame.seq !== "number") {
      if (frame.type === "error" && REFUSALS.has(frame.code)) this.refused();
      this.on.ephemeral(frame);
      return;
    }
    if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // seen before a reconnect
    this.deliver(frame, false);
    if (this.catchUpTo !== null && frame.seq >= this.catchUpTo) {
      this.catchUpTo = null;
      this.flush();
    }
  }

  deliver(event, reloaded) {
    this.lastSeq = event.seq;
    if (event.client_msg_id) {
      this.unconfirmed.delete(event.client_msg_id);
      this.inFlight.delete(event.client_msg_id);
    }
    if (event.type === "agent.start") this.openTurns.add(event.turn_id);
    else if (TERMINAL_TYPES.has(event.type)) this.openTurns.delete(event.turn_id);
    this.on.event(event, { reloaded });
  }

  // The server applies frames in order and refusals name no frame: whatever was written and has
  // not come back may be the refused one. Resending it blindly could repeat it, so the view
  // offers a retry instead; an event that still arrives later wins over the failure.
  refused() {
    for (const id of this.inFlight) {
      const frame = this.unconfirmed.get(id);
      this.unconfirmed.delete(id);
      if (frame) this.on.failed(frame);
    }
    this.inFlight.clear();
  }

  // After a reconnect has caught up: what was sent but never applied goes out again.
  flush() {
    const frames = [...this.unconfirmed.values(), ...this.outbox];
    this.outbox = [];
    for (const frame of frames) this.write(frame);
  }

  retryLater() {
    this.setState(this.lastSeq === null ? "connecting" : "reconnecting");
    // Jitter spreads a whole room's reconnects after a server restart.
    const delay = this.backoffMs * (0.5 + Math.random());
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  finish(code, reason) {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    clearInterval(this.pinger);
    this.setState("closed");
    this.on.final(code, reason || "");
  }
}
