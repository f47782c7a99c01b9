// The room's message stream: chat, questions, the tutor's answers as they stream, quizzes and
// short notes, one list item per room event, in seq order.

import { avatar, clock, h, percent } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

const TUTOR = { id: 0, name: "Tutor" };
const TUTOR_MODES = { socratic: "Socratic", explain: "Explain", off: "off" };

export class Timeline {
  // options: me() -> {id, name}; answer(quizId, choice); retry(frame);
  // citation(c) -> label or null; turnsChanged()
  constructor(list, options) {
    this.list = list;
    this.scroller = list.parentElement;
    this.options = options;
    this.turns = new Map(); // turn_id -> turn state, see startTurn
    this.quizzes = new Map(); // quiz_id -> card state
    this.pendingByClientId = new Map(); // client_msg_id -> optimistic list item
    this.askers = new Map(); // turn_id -> id of the user whose ask it answers
    this.gone = new Set(); // ids of users removed, whose sockets' "left" says nothing new
  }

  clear() {
    for (const turn of this.turns.values()) cancelAnimationFrame(turn.frame);
    this.turns.clear();
    this.quizzes.clear();
    this.pendingByClientId.clear();
    this.askers.clear();
    this.gone.clear();
    this.settings = null; // the session's settings as last shown, to tell what an update changed
    this.list.replaceChildren();
  }

  add(event, { reloaded }) {
    switch (event.type) {
      case "chat":
      case "ask":
        return this.message(event);
      case "agent.start":
        return this.startTurn(event.turn_id, event.ts, reloaded);
      case "agent.delta":
        return this.delta(event);
      case "agent.done":
        return this.done(event);
      case "agent.error":
        return this.failTurn(event);
      case "agent.fallback":
        return this.fallback(event);
      case "quiz":
        return this.quiz(event);
      case "quiz.result":
        return this.quizResult(event);
      case "progress":
        return this.note(
          `${event.user.name} · ${event.concept}: mastery ${percent(event.mastery)}`,
          "progress",
          event.ts,
        );
      case "presence":
        return this.presence(event);
      case "material.added":
        return this.note(`New material: ${event.material.filename}`, "material", event.ts);
      case "material.removed":
        return this.note("A material was removed", "material", event.ts);
      case "topic.changed":
        return this.note(
          event.topic ? `Topic changed to “${event.topic.title}”` : "The topic was removed",
          "topic",
          event.ts,
        );
      case "session.ended":
        return this.note("The session has ended", "ended", event.ts);
      case "session.updated": {
        const before = this.settings;
        this.settings = event.session;
        const codeOnly =
          before &&
          before.join_code !== event.session.join_code &&
          settingsText(before) === settingsText(event.session);
        const text = codeOnly
          ? "A host gave the session a new join code"
          : settingsText(event.session);
        return this.note(text, "settings", event.ts);
      }
      case "member.role":
        return this.note(
          event.role === "host"
            ? `${event.user.name} is now a host`
            : `${event.user.name} is no longer a host`,
          "settings",
          event.ts,
        );
      case "member.removed":
        this.gone.add(event.user.id);
        return this.note(`${event.user.name} is no longer in the session`, "presence", event.ts);
      default:
        return undefined; // a newer server's event: nothing to show
    }
  }

  // A turn whose deltas were partly missed can only be shown whole once agent.done arrives.
  markGap() {
    for (const turn of this.turns.values()) {
      if (!turn.finished) this.breakTurn(turn);
    }
  }

  // The id of the user who asked what turnId answers, or null when the ask is not known.
  askerOf(turnId) {
    return this.askers.get(turnId) ?? null;
  }

  activeTurn() {
    let active = null;
    for (const turn of this.turns.values()) if (!turn.finished) active = turn.id;
    return active;
  }

  // An optimistic copy of a chat or question, replaced when its room event arrives.
  pending(frame, user) {
    const item = this.messageItem(frame.type, user, frame.text, null, "pending");
    item.status.textContent = "sending…";
    this.pendingByClientId.set(frame.client_msg_id, item.li);
    this.append(item.li);
  }

  failed(frame) {
    const li = this.pendingByClientId.get(frame.client_msg_id);
    if (!li) return;
    li.classList.add("failed");
    const status = li.querySelector(".status");
    status.replaceChildren(
      "not sent · ",
      h("button", { type: "button", class: "link", onclick: () => this.retry(frame, li) }, "retry"),
    );
  }

  retry(frame, li) {
    this.pendingByClientId.delete(frame.client_msg_id);
    li.remove();
    this.options.retry(frame);
  }

  // rendering

  message(event) {
    const optimistic = event.client_msg_id && this.pendingByClientId.get(event.client_msg_id);
    if (optimistic) {
      this.pendingByClientId.delete(event.client_msg_id);
      optimistic.remove();
    }
    if (event.type === "ask" && event.turn_id) this.askers.set(event.turn_id, event.user.id);
    const item = this.messageItem(event.type, event.user, event.text, event.ts);
    item.li.dataset.seq = String(event.seq);
    this.append(item.li);
  }

  messageItem(type, user, text, ts, extra = "") {
    const mine = user.id === this.options.me()?.id;
    const body = h("div", { class: "md body" });
    body.innerHTML = renderMarkdown(text);
    const status = h("span", { class: "status" });
    const li = h(
      "li",
      { class: `msg ${type} ${mine ? "mine" : ""} ${extra}`.trim() },
      avatar(user),
      h(
        "div",
        { class: "bubble" },
        h(
          "div",
          { class: "meta" },
          h("span", { class: "who" }, mine ? `${user.name} (you)` : user.name),
          type === "ask" ? h("span", { class: "badge" }, "asked the tutor") : null,
          ts ? h("time", { datetime: ts }, clock(ts)) : null,
          status,
        ),
        body,
      ),
    );
    return { li, status };
  }

  startTurn(turnId, ts, reloaded) {
    const existing = this.turns.get(turnId);
    if (existing) return existing;
    const body = h("div", { class: "md body answer-body", "aria-busy": "true" });
    const status = h("span", { class: "status" }, "thinking…");
    const footer = h("div", { class: "answer-footer" });
    const li = h(
      "li",
      { class: "msg answer", dataset: { turn: turnId } },
      avatar(TUTOR, "tutor"),
      h(
        "div",
        { class: "bubble" },
        h(
          "div",
          { class: "meta" },
          h("span", { class: "who" }, "Tutor"),
          ts ? h("time", { datetime: ts }, clock(ts)) : null,
          status,
        ),
        body,
        footer,
      ),
    );
    const turn = {
      id: turnId,
      li,
      body,
      status,
      footer,
      text: "",
      frame: 0,
      finished: false,
      broken: false,
    };
    this.turns.set(turnId, turn);
    this.append(li);
    // Deltas are not kept in the transcript: a turn first seen there starts mid-way.
    if (reloaded) this.breakTurn(turn);
    this.options.turnsChanged();
    return turn;
  }

  breakTurn(turn) {
    turn.broken = true;
    cancelAnimationFrame(turn.frame);
    turn.frame = 0;
    turn.status.textContent = "answering…";
    turn.li.classList.add("catching-up");
  }

  delta(event) {
    const turn = this.turns.get(event.turn_id) || this.startTurn(event.turn_id, event.ts, true);
    if (turn.finished || turn.broken) return;
    turn.text += event.text;
    turn.status.textContent = "answering…";
    // Many deltas can arrive per frame; the Markdown is rebuilt at most once per frame.
    if (!turn.frame) turn.frame = requestAnimationFrame(() => this.paint(turn));
  }

  paint(turn) {
    turn.frame = 0;
    const stick = this.atBottom();
    turn.body.innerHTML = renderMarkdown(turn.text);
    if (stick) this.scrollDown();
  }

  done(event) {
    const turn = this.turns.get(event.turn_id) || this.startTurn(event.turn_id, event.ts, false);
    cancelAnimationFrame(turn.frame);
    turn.text = event.text;
    this.paint(turn);
    this.finish(turn, event.stopped ? "stopped" : "");
    turn.li.classList.toggle("stopped", Boolean(event.stopped));
    if (event.truncated) {
      // The answer hit the tutor's length limit: say so rather than end mid-sentence.
      turn.li.classList.add("truncated");
      turn.footer.append(
        h("p", { class: "turn-note truncated-note" }, "Cut off at the tutor's length limit."),
      );
    }
    // Several passages of one file are one source to the reader.
    const sources = [...new Set((event.citations || []).map((c) => this.options.citation(c)))];
    if (sources.length) {
      turn.footer.append(
        h("span", { class: "sources-label" }, "Sources: "),
        ...sources.map((s) => h("span", { class: "source" }, s)),
      );
    }
  }

  fallback(event) {
    // The model failed mid-answer; another one goes on with it in the same place.
    const turn = this.turns.get(event.turn_id) || this.startTurn(event.turn_id, event.ts, false);
    turn.li.classList.add("fell-back");
    turn.footer.append(
      h(
        "p",
        { class: "turn-note fallback-note" },
        `${event.from} failed (${event.reason}); ${event.to} finished the answer.`,
      ),
    );
  }

  failTurn(event) {
    const turn = this.turns.get(event.turn_id) || this.startTurn(event.turn_id, event.ts, false);
    cancelAnimationFrame(turn.frame);
    if (!turn.broken && turn.text) this.paint(turn);
    this.finish(turn, "");
    turn.li.classList.add("errored");
    turn.footer.append(
      h(
        "p",
        { class: "turn-error", role: "alert" },
        `The tutor could not answer: ${event.message || event.code}`,
      ),
    );
  }

  finish(turn, status) {
    turn.finished = true;
    turn.broken = false;
    turn.status.textContent = status;
    turn.body.setAttribute("aria-busy", "false");
    turn.li.classList.remove("catching-up");
    this.options.turnsChanged();
  }

  quiz(event) {
    const feedback = h("p", { class: "quiz-feedback", "aria-live": "polite" });
    const results = h("ul", { class: "quiz-results", "aria-label": "Answers" });
    const buttons = event.choices.map((choice, index) =>
      h(
        "button",
        {
          type: "button",
          class: "choice",
          dataset: { choice: String(index) },
          onclick: () => this.choose(event.quiz_id, index),
        },
        choice,
      ),
    );
    const question = h("p", { class: "question" }, event.question);
    const li = h(
      "li",
      { class: event.review_of ? "quiz card review" : "quiz card", dataset: { quiz: event.quiz_id } },
      h(
        "div",
        { class: "meta" },
        h("span", { class: "badge quiz-badge" }, event.review_of ? "Review" : "Quiz"),
        event.ts ? h("time", { datetime: event.ts }, clock(event.ts)) : null,
      ),
      question,
      h("div", { class: "choices", role: "group", "aria-label": event.question }, buttons),
      feedback,
      results,
    );
    this.quizzes.set(event.quiz_id, { li, buttons, feedback, results, answered: false });
    this.append(li);
  }

  choose(quizId, index) {
    const card = this.quizzes.get(quizId);
    if (!card || card.answered) return;
    card.answered = true;
    for (const button of card.buttons) button.disabled = true;
    card.buttons[index].classList.add("chosen");
    card.buttons[index].setAttribute("aria-pressed", "true");
    card.feedback.textContent = "Answer sent…";
    this.options.answer(quizId, index);
  }

  quizResult(event) {
    const card = this.quizzes.get(event.quiz_id);
    if (!card) return;
    const stick = this.atBottom();
    const mine = event.user.id === this.options.me()?.id;
    card.results.append(
      h(
        "li",
        { class: event.correct ? "right" : "wrong" },
        `${mine ? "You" : event.user.name} ${event.correct ? "✓ correct" : "✗ not quite"}`,
      ),
    );
    if (mine) {
      card.answered = true;
      for (const button of card.buttons) button.disabled = true;
      const chosen = card.buttons[event.choice];
      if (chosen) {
        chosen.classList.add("chosen", event.correct ? "right" : "wrong");
        chosen.setAttribute("aria-pressed", "true");
      }
      card.feedback.textContent = event.correct
        ? "Correct — well done!"
        : "Not quite. Have another look at the explanation.";
    }
    if (stick) this.scrollDown();
  }

  presence(event) {
    const id = event.user.id;
    if (event.event === "join") this.gone.delete(id);
    else if (this.gone.has(id)) return undefined;
    return this.note(
      `${event.user.name} ${event.event === "join" ? "joined" : "left"}`,
      "presence",
      event.ts,
    );
  }

  note(text, kind, ts) {
    this.append(
      h(
        "li",
        { class: `note note-${kind}` },
        text,
        ts ? h("time", { datetime: ts }, ` · ${clock(ts)}`) : null,
      ),
    );
  }

  // scrolling: follow new content only when the learner is already at the bottom

  append(li) {
    const stick = this.atBottom();
    this.list.append(li);
    if (stick) this.scrollDown();
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollDown() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

function settingsText(session) {
  const mode = TUTOR_MODES[session.tutor_mode] || session.tutor_mode;
  const tutor = session.tutor_mode === "off" ? "tutor off" : `tutor ${mode}`;
  return `Session settings: “${session.title}” · ${tutor} · ${session.locked ? "locked" : "open to join"}`;
}
