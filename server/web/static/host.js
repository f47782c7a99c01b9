// What hosts can change about a session from the room: its title, how the tutor teaches,
// whether new people may join, and its join code. Everyone sees the outcome through the
// room's session.updated event; the host's own page applies the answer at once.

import * as api from "./api.js";
import { $, toast } from "./dom.js";

export const TUTOR_MODES = {
  socratic: "Socratic",
  explain: "Explain",
  off: "Off",
};

export class HostControls {
  // options: session() -> the session shown; applied(session); codeChanged(code); signal
  constructor(root, { session, applied, codeChanged, signal }) {
    this.root = root;
    this.session = session;
    this.applied = applied;
    this.codeChanged = codeChanged;
    const on = (selector, type, handler) =>
      $(selector, root).addEventListener(type, handler, { signal });
    on("#rename-form", "submit", (event) => this.rename(event));
    on("#tutor-mode", "change", (event) => this.change({ tutor_mode: event.target.value }));
    on("#lock-session", "click", () => this.change({ locked: !this.session().locked }));
    on("#rotate-code", "click", () => this.rotate());
  }

  // Shows the session's settings in the controls; `visible` when the viewer hosts it.
  show(session, visible) {
    const box = $("#host-controls", this.root);
    box.hidden = !visible;
    const title = $("#rename-title", this.root);
    // A title being edited is not overwritten by someone else's change.
    if (document.activeElement !== title) title.value = session.title;
    $("#tutor-mode", this.root).value = session.tutor_mode || "socratic";
    const lock = $("#lock-session", this.root);
    lock.textContent = session.locked ? "Unlock" : "Lock";
    lock.setAttribute("aria-pressed", String(Boolean(session.locked)));
    lock.title = session.locked
      ? "Let people join with the code again"
      : "Let nobody new join, even with the code";
  }

  async rename(event) {
    event.preventDefault();
    const title = $("#rename-title", this.root).value.trim();
    if (!title) {
      this.problem("Give the session a title.");
      return;
    }
    if (title === this.session().title) return;
    await this.change({ title });
  }

  async change(changes) {
    this.problem("");
    try {
      this.applied(await api.updateSession(this.session().id, changes));
    } catch (error) {
      this.problem(`Not changed: ${error.message}`);
      this.show(this.session(), true); // back to what is in force
    }
  }

  async rotate() {
    this.problem("");
    try {
      const { join_code: code } = await api.rotateJoinCode(this.session().id);
      this.codeChanged(code);
      toast(`New join code: ${code}. The old one no longer works.`);
    } catch (error) {
      this.problem(`No new code: ${error.message}`);
    }
  }

  problem(message) {
    $("#host-error", this.root).textContent = message;
  }
}
