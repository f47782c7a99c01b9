// The live room page: members and who is typing, the composer, the message stream, the study
// tools, the host's controls, and what the page does when the session ends or access is
// refused.

import * as api from "./api.js";
import { LengthGuard, limitFromError } from "./composer.js";
import { RoomConnection } from "./connection.js";
import { $, clear, clock, h, toast } from "./dom.js";
import { HostControls, TUTOR_MODES } from "./host.js";
import { renderMembers } from "./members.js";
import { StudyPanel } from "./study.js";
import { Timeline } from "./timeline.js";

const TYPING_SHOWN_MS = 4000;
const TYPING_SENT_EVERY_MS = 2500;

const CONNECTION_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

const FINAL_NOTICES = {
  4410: "This session has ended. The conversation stays here to read.",
  4403: "You are not a member of this session any more.",
  4401: "The room refused this connection. Reload the page to try again.",
};
const REMOVED_NOTICE =
  "A host removed you from this session. You cannot take part in it or join it again.";

// Role changes and new join codes reach the room as no event: the session is read again this
// often while the room is open (and whenever the page becomes visible).
const SESSION_REFRESH_MS = 15_000;

// Ids the server echoes back in client_msg_id; randomUUID needs a secure context, this does not.
function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `c-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// A time today as a clock time; a later day as a date.
function soon(ts) {
  const when = new Date(ts);
  return when - Date.now() < 20 * 3600 * 1000 ? clock(ts) : when.toLocaleDateString();
}

// How long after my quiz answer the schedule is asked for again, and how often otherwise.
const REVIEW_SETTLE_MS = 1500;
const REVIEW_POLL_MS = 60_000;

export class RoomPage {
  constructor(root, me) {
    this.root = root;
    this.me = me;
    this.members = new Map(); // id -> {id, name}
    this.roles = new Map(); // id -> "host" | "member"
    this.online = new Set();
    this.typers = new Map(); // id -> {name, timer}
    // Events above this seq are newer than the last welcome's snapshot of members and topic;
    // older ones (replayed or reloaded) are history and change only the message stream.
    this.liveFrom = 0;
    this.lastTypingSent = 0;
    this.ended = false;
    this.events = new AbortController();
    this.conn = null;
    this.reviewTimer = 0;
    this.refreshTimer = 0;
    this.leaving = false; // this member asked to leave: the 4403 that follows is expected
    this.removed = false; // a member.removed named this member, and not because they left
  }

  get host() {
    return this.roles.get(this.me.id) === "host";
  }

  async open(sessionId) {
    const session = await api.session(sessionId);
    if (this.events.signal.aborted) return; // the learner went elsewhere meanwhile
    this.session = session;
    this.topic = session.topic;
    this.ended = session.status === "ended";
    this.setMembers(session.members);
    const signal = this.events.signal;
    this.hostControls = new HostControls(this.root, {
      session: () => this.session,
      applied: (changed) => this.applySession(changed),
      codeChanged: (code) => this.applySession({ ...this.session, join_code: code }),
      signal,
    });
    this.guard = new LengthGuard(this.root);
    this.showHeader();
    this.timeline = new Timeline($("#timeline", this.root), {
      me: () => this.me,
      answer: (quizId, choice) => this.conn.send({ type: "answer", quiz_id: quizId, choice }),
      retry: (frame) => this.send(frame.type, frame.text),
      citation: (c) => citationLabel(c, this.study),
      turnsChanged: () => this.updateStop(),
    });
    this.timeline.clear();
    this.timeline.settings = session;
    this.study = new StudyPanel($("#study", this.root), { me: () => this.me, sessionId, signal });
    this.study.show(this.topic);
    this.wireComposer();
    this.guard.update();
    this.wireInfo();
    this.renderMembers();
    this.setTyping();
    this.notice(null);
    if (this.ended) {
      await this.loadEndedTranscript(sessionId);
      return;
    }
    this.setComposerEnabled(true);
    this.refreshReview();
    this.watchSession();
    this.conn = new RoomConnection(sessionId, {
      welcome: (frame, info) => this.welcome(frame, info),
      event: (frame, info) => this.event(frame, info),
      ephemeral: (frame) => this.ephemeral(frame),
      gap: () => this.timeline.markGap(),
      reset: () => this.timeline.clear(),
      failed: (frame) => this.timeline.failed(frame),
      status: (state) => this.showConnection(state),
      final: (code, reason) => this.final(code, reason),
    });
    this.conn.start();
  }

  close() {
    this.events.abort();
    clearTimeout(this.reviewTimer);
    clearInterval(this.refreshTimer);
    if (this.conn) this.conn.stop();
    for (const typer of this.typers.values()) clearTimeout(typer.timer);
    $("#conn").hidden = true;
  }

  // socket handlers

  welcome(frame, { first }) {
    this.me = { ...this.me, id: frame.user.id, name: frame.user.name };
    this.liveFrom = frame.seq;
    this.online = new Set(frame.members.map((m) => m.id));
    for (const m of frame.members) this.members.set(m.id, m);
    if (frame.topic && (first || frame.topic.id !== this.topic?.id)) this.setTopic(frame.topic);
    this.renderMembers();
    // What changed while this page was not connected (roles, title, code) is read again.
    if (!first) this.refreshSession();
  }

  event(frame, { reloaded }) {
    this.timeline.add(frame, { reloaded });
    if ((frame.type === "chat" || frame.type === "ask") && this.typers.has(frame.user.id)) {
      this.stopTyping(frame.user.id);
    }
    const live = frame.seq > this.liveFrom;
    if (frame.type === "presence" && live) {
      // A removed member's socket says "leave" after member.removed: that adds nobody back.
      const known = this.members.has(frame.user.id);
      if (frame.event === "join") {
        this.members.set(frame.user.id, frame.user);
        this.online.add(frame.user.id);
      } else this.online.delete(frame.user.id);
      this.renderMembers();
      if (!known && frame.event === "join") this.refreshSession(); // a newcomer: their role
    } else if (frame.type === "session.updated" && live) {
      this.applySession(frame.session);
    } else if (frame.type === "member.removed" && live) {
      this.memberRemoved(frame.user);
    } else if (frame.type === "member.role" && live) {
      this.roleChanged(frame.user, frame.role);
    } else if (frame.type === "topic.changed" && live) {
      this.setTopic(frame.topic);
    } else if (frame.type === "progress" && frame.user.id === this.me.id && !reloaded) {
      this.study.refresh();
      // The answer reschedules the concept once the server has recorded it.
      this.refreshReview(REVIEW_SETTLE_MS);
    } else if ((frame.type === "material.added" || frame.type === "material.removed") && live) {
      this.study.materialChanged(frame);
    } else if (frame.type === "session.ended") {
      this.session = { ...this.session, status: "ended" };
      this.endRoom(FINAL_NOTICES[4410]);
    }
  }

  memberRemoved(user) {
    if (user.id === this.me.id) {
      // The socket closes with 4403 right after: say why, and why not before it does.
      this.removed = !this.leaving;
      return;
    }
    this.members.delete(user.id);
    this.roles.delete(user.id);
    this.online.delete(user.id);
    this.stopTyping(user.id);
    this.renderMembers();
  }

  // A host's controls appear (or go) on the page of the member whose role changed, at once.
  roleChanged(user, role) {
    if (!this.members.has(user.id)) this.members.set(user.id, user);
    this.roles.set(user.id, role);
    this.showHeader();
    this.renderMembers();
  }

  ephemeral(frame) {
    if (frame.type === "typing" && frame.user.id !== this.me.id) this.showTyping(frame.user);
    else if (frame.type === "error") {
      const limit = limitFromError(frame);
      if (limit !== null) this.guard.setLimit(limit);
      toast(errorText(frame), frame.code === "internal" ? "error" : "warn");
    }
  }

  final(code, reason) {
    if (this.leaving) return; // leave() takes the learner back to the lobby
    if (this.removed) this.endRoom(REMOVED_NOTICE);
    else this.endRoom(FINAL_NOTICES[code] || reason || "The room closed.");
  }

  showConnection(state) {
    const box = $("#conn");
    box.hidden = false;
    box.className = `conn conn-${state}`;
    $(".conn-label", box).textContent = CONNECTION_LABELS[state] || state;
    box.title = `Room connection: ${CONNECTION_LABELS[state] || state}`;
  }

  // header, members, topic

  showHeader() {
    const session = this.session;
    $("#room-title", this.root).textContent = session.title;
    $("#room-code", this.root).textContent = session.join_code;
    const owner = session.owner_id === this.me.id;
    $("#end-session", this.root).hidden = !owner || this.ended;
    // The creator cannot leave; they end the session instead.
    $("#leave-session", this.root).hidden = owner || this.ended;
    const mode = session.tutor_mode || "socratic";
    $("#room-tutor-mode", this.root).textContent =
      mode === "off" ? "Tutor off" : `Tutor: ${TUTOR_MODES[mode] || mode}`;
    $("#room-tutor-mode", this.root).dataset.mode = mode;
    $("#room-locked", this.root).hidden = !session.locked || this.ended;
    $("#room-ended", this.root).hidden = session.status !== "ended";
    this.hostControls.show(session, this.host && !this.ended);
    this.showAsk();
    this.updateStop();
    this.showTopic();
  }

  // A session as REST or session.updated shows it (members, when present, too).
  applySession(session) {
    const { members, topic, ...fields } = session;
    this.session = { ...this.session, ...fields };
    if (members) this.setMembers(members);
    if (this.session.title && document.title.endsWith("· studyroom"))
      document.title = `${this.session.title} · studyroom`;
    this.showHeader();
    this.renderMembers();
  }

  setMembers(members) {
    const present = new Set(members.map((m) => m.id));
    for (const id of [...this.members.keys()]) if (!present.has(id)) this.members.delete(id);
    this.roles.clear();
    for (const m of members) {
      this.members.set(m.id, { id: m.id, name: m.display_name });
      this.roles.set(m.id, m.role || "member");
    }
  }

  watchSession() {
    const signal = this.events.signal;
    this.refreshTimer = setInterval(() => this.refreshSession(), SESSION_REFRESH_MS);
    document.addEventListener(
      "visibilitychange",
      () => document.visibilityState === "visible" && this.refreshSession(),
      { signal },
    );
  }

  async refreshSession() {
    if (this.ended || this.events.signal.aborted || document.visibilityState === "hidden") return;
    let session;
    try {
      session = await api.session(this.session.id);
    } catch {
      return; // a refusal reaches the room's socket too; anything else: next time
    }
    if (this.ended || this.events.signal.aborted) return;
    this.applySession(session);
  }

  showTopic() {
    const line = $("#room-topic", this.root);
    if (!this.topic) clear(line, "No topic");
    else
      clear(
        line,
        h("strong", {}, this.topic.title),
        this.topic.description
          ? h("span", { class: "hint" }, ` — ${this.topic.description}`)
          : null,
      );
  }

  setTopic(topic) {
    const changed = topic?.id !== this.topic?.id;
    this.topic = topic;
    this.showTopic();
    if (changed) this.study.show(topic);
  }

  renderMembers() {
    renderMembers($("#members", this.root), {
      members: this.members,
      roles: this.roles,
      online: this.online,
      me: this.me,
      ownerId: this.session.owner_id,
      host: this.host,
      ended: this.ended,
      setRole: (member, role) => this.setRole(member, role),
      remove: (member) => this.removeMember(member),
    });
  }

  async setRole(member, role) {
    try {
      const changed = await api.setRole(this.session.id, member.id, role);
      this.roles.set(member.id, changed.role);
      this.renderMembers();
      toast(role === "host" ? `${member.name} is now a host` : `${member.name} is a member again`);
    } catch (error) {
      toast(`Could not change ${member.name}'s role: ${error.message}`, "error");
    }
  }

  async removeMember(member) {
    const sure = confirm(
      `Remove ${member.name} from this session? They are disconnected at once and cannot join it again.`,
    );
    if (!sure) return;
    try {
      await api.removeMember(this.session.id, member.id);
    } catch (error) {
      toast(`Could not remove ${member.name}: ${error.message}`, "error");
    }
  }

  async leave() {
    const sure = confirm(
      "Leave this session? Its conversation is no longer yours to read; you can rejoin with its code while it is not locked.",
    );
    if (!sure) return;
    this.leaving = true;
    try {
      await api.removeMember(this.session.id, this.me.id);
    } catch (error) {
      this.leaving = false;
      toast(`Could not leave the session: ${error.message}`, "error");
      return;
    }
    toast(`You left “${this.session.title}”.`);
    location.hash = "#/";
  }

  // typing

  showTyping(user) {
    const existing = this.typers.get(user.id);
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => this.stopTyping(user.id), TYPING_SHOWN_MS);
    this.typers.set(user.id, { name: user.name, timer });
    this.setTyping();
  }

  stopTyping(id) {
    const typer = this.typers.get(id);
    if (typer) clearTimeout(typer.timer);
    this.typers.delete(id);
    this.setTyping();
  }

  setTyping() {
    const names = [...this.typers.values()].map((t) => t.name);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    $("#typing", this.root).textContent = text;
  }

  // composer

  wireComposer() {
    const signal = this.events.signal;
    const form = $("#composer", this.root);
    const text = $("#composer-text", this.root);
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        this.sendFromComposer("chat");
      },
      { signal },
    );
    $("#ask", this.root).addEventListener("click", () => this.sendFromComposer("ask"), { signal });
    $("#stop", this.root).addEventListener("click", () => this.stopTurn(), { signal });
    $("#review", this.root).addEventListener(
      "click",
      () => this.conn && this.conn.send({ type: "review" }),
      { signal },
    );
    text.addEventListener(
      "keydown",
      (event) => {
        if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
        event.preventDefault();
        this.sendFromComposer(event.ctrlKey || event.metaKey ? "ask" : "chat");
      },
      { signal },
    );
    text.addEventListener(
      "input",
      () => {
        this.guard.update();
        this.typed();
      },
      { signal },
    );
  }

  typed() {
    const now = Date.now();
    if (!this.conn || !this.conn.live || now - this.lastTypingSent < TYPING_SENT_EVERY_MS) return;
    if (!$("#composer-text", this.root).value.trim()) return;
    this.lastTypingSent = now;
    this.conn.send({ type: "typing" });
  }

  sendFromComposer(type) {
    const box = $("#composer-text", this.root);
    if (this.ended || !box.value.trim()) return;
    if (type === "ask" && this.tutorOff) {
      toast("The tutor is off in this session: a host turned it off. Send it to the room instead.", "warn");
      return;
    }
    if (!this.guard.check()) return;
    this.send(type, box.value);
    box.value = "";
    this.guard.update();
    box.focus();
  }

  get tutorOff() {
    return this.session.tutor_mode === "off";
  }

  showAsk() {
    const ask = $("#ask", this.root);
    ask.disabled = this.tutorOff;
    ask.textContent = this.tutorOff ? "Tutor is off" : "Ask tutor";
    ask.title = this.tutorOff ? "A host turned the tutor off for this session" : "";
    $("#composer-hint", this.root).textContent = this.tutorOff
      ? "Enter: send · Shift+Enter: new line · the tutor is off"
      : "Enter: send · Shift+Enter: new line · Ctrl+Enter: ask the tutor";
  }

  send(type, text) {
    const frame = { type, text, client_msg_id: newId() };
    this.timeline.pending(frame, this.me);
    this.conn.send(frame);
  }

  // spaced review: the button says how many of my quiz cards are due, or when the next one is

  refreshReview(delayMs = 0) {
    clearTimeout(this.reviewTimer);
    this.reviewTimer = setTimeout(() => this.showReview(), delayMs);
  }

  async showReview() {
    const button = $("#review", this.root);
    let schedule;
    try {
      schedule = await api.reviewSchedule(this.session.id);
    } catch {
      schedule = null; // the button stays as it was; the next refresh tries again
    }
    if (this.events.signal.aborted) return;
    if (schedule) {
      const { due, next_review_at: next } = schedule;
      button.hidden = this.ended || (!due && !next);
      button.disabled = !due;
      button.textContent = due ? `Review · ${due} due` : `Next review ${soon(next)}`;
      button.title = due
        ? "Pose the quizzes that are due again, to everyone in the room"
        : `Your next quiz card is due at ${new Date(next).toLocaleString()}`;
    }
    // Cards fall due as time passes: look again every minute.
    this.reviewTimer = setTimeout(() => this.showReview(), REVIEW_POLL_MS);
  }

  stopTurn() {
    const turnId = this.timeline.activeTurn();
    if (turnId) this.conn.send({ type: "cancel", turn_id: turnId });
  }

  // Hosts may stop any answer; members only the answers to their own questions.
  updateStop() {
    const turn = this.timeline ? this.timeline.activeTurn() : null;
    const mine = turn !== null && this.timeline.askerOf(turn) === this.me.id;
    $("#stop", this.root).hidden = this.ended || !turn || !(this.host || mine);
  }

  setComposerEnabled(enabled) {
    $("#composer-fields", this.root).disabled = !enabled;
  }

  // session info actions

  wireInfo() {
    const signal = this.events.signal;
    $("#copy-code", this.root).addEventListener("click", () => this.copyCode(), { signal });
    $("#end-session", this.root).addEventListener("click", () => this.endSession(), { signal });
    $("#leave-session", this.root).addEventListener("click", () => this.leave(), { signal });
    $("#topic-switch", this.root).addEventListener("submit", (event) => this.switchTopic(event), {
      signal,
    });
    this.loadTopicChoices();
  }

  async copyCode() {
    try {
      await navigator.clipboard.writeText(this.session.join_code);
      toast("Join code copied");
    } catch {
      getSelection().selectAllChildren($("#room-code", this.root));
      toast("Press Ctrl+C to copy the selected code");
    }
  }

  async loadTopicChoices() {
    const form = $("#topic-switch", this.root);
    try {
      const topics = await api.topics();
      form.hidden = this.ended || topics.length < 2;
      clear(
        $("#topic-select", this.root),
        topics.map((t) =>
          h("option", { value: String(t.id), selected: t.id === this.topic?.id }, t.title),
        ),
      );
    } catch {
      form.hidden = true;
    }
  }

  async switchTopic(event) {
    event.preventDefault();
    const topicId = Number($("#topic-select", this.root).value);
    if (topicId === this.topic?.id) return;
    try {
      await api.changeTopic(this.session.id, topicId);
    } catch (error) {
      toast(`Could not switch topic: ${error.message}`, "error");
    }
  }

  async endSession() {
    if (!confirm("End this session for everyone? The conversation stays readable.")) return;
    try {
      await api.endSession(this.session.id);
    } catch (error) {
      toast(`Could not end the session: ${error.message}`, "error");
    }
  }

  // The room is read-only from here on: the session ended or this member may not take part.
  endRoom(message) {
    this.ended = true;
    clearInterval(this.refreshTimer);
    if (this.conn) this.conn.stop();
    this.setComposerEnabled(false);
    for (const choice of this.root.querySelectorAll(".quiz .choice")) choice.disabled = true;
    $("#topic-switch", this.root).hidden = true;
    // Nobody is in an ended room, and a removed member no longer sees who is.
    this.online.clear();
    for (const typer of this.typers.values()) clearTimeout(typer.timer);
    this.typers.clear();
    this.setTyping();
    this.showHeader();
    this.renderMembers();
    this.notice(message);
    $("#room-notice", this.root).classList.toggle("notice-removed", message === REMOVED_NOTICE);
    $("#conn").hidden = true;
  }

  async loadEndedTranscript(sessionId) {
    let after = 0;
    for (;;) {
      const rows = await api.messages(sessionId, after, 500);
      for (const row of rows) this.timeline.add(row, { reloaded: true });
      if (!rows.length) break;
      after = rows[rows.length - 1].seq;
    }
    this.endRoom(FINAL_NOTICES[4410]);
  }

  notice(message) {
    const box = $("#room-notice", this.root);
    box.classList.remove("notice-removed");
    box.hidden = !message;
    box.textContent = message || "";
  }
}

function citationLabel(citation, study) {
  const name =
    citation.filename || study.materialName(citation.material_id) || `material ${citation.material_id}`;
  return citation.page ? `${name}, p. ${citation.page}` : name;
}

function errorText(frame) {
  const known = {
    rate_limited: "Slow down a little: the room dropped a message.",
    not_allowed: "That is not possible right now",
    not_found: "That is no longer there",
    unavailable: "The room is briefly unavailable; try again in a moment",
  };
  const lead = known[frame.code];
  return lead
    ? `${lead}${frame.code === "rate_limited" ? "" : ` (${frame.message})`}`
    : frame.message || frame.code;
}
