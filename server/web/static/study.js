// The room's study tools: the topic's materials (with uploads), goals, progress and the
// session report, as tabs beside the message stream.

import * as api from "./api.js";
import { historyChart, masteryChart } from "./charts.js";
import { $, bytes, clear, h, percent, toast } from "./dom.js";

const METRICS = {
  study_minutes: "Study minutes",
  questions_asked: "Questions asked",
  quiz_accuracy: "Quiz accuracy",
  concepts_mastered: "Concepts mastered",
};

export function setUpTabs(tablist, signal) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
    }
    tablist.dispatchEvent(new CustomEvent("tabchange", { detail: tab.id }));
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab), { signal });
    tab.addEventListener(
      "keydown",
      (event) => {
        const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
        next.focus();
        select(next);
      },
      { signal },
    );
  }
  return select;
}

export async function showHistory(container) {
  try {
    const buckets = await api.history();
    clear(container, historyChart(buckets, "study_minutes", "min"));
  } catch (error) {
    clear(container, h("p", { class: "hint" }, `History unavailable: ${error.message}`));
  }
}

export class StudyPanel {
  // The panel's elements outlive it (the page is static); listeners go when `signal` aborts.
  constructor(root, { me, sessionId, signal }) {
    this.root = root;
    this.signal = signal;
    this.me = me;
    this.sessionId = sessionId;
    this.topic = null;
    this.materials = new Map();
    this.current = "tab-materials";
    const tablist = $('[role="tablist"]', root);
    const on = (selector, type, handler) =>
      $(selector, root).addEventListener(type, handler, { signal });
    setUpTabs(tablist, signal)($("#tab-materials", root));
    tablist.addEventListener(
      "tabchange",
      (event) => {
        this.current = event.detail;
        this.refresh();
      },
      { signal },
    );
    on("#upload-form", "submit", (event) => this.upload(event));
    on("#goal-form", "submit", (event) => this.addGoal(event));
    on("#goal-metric", "change", () => this.metricChanged());
    on("#report-refresh", "click", () => this.showReport());
    this.metricChanged();
  }

  show(topic) {
    this.topic = topic;
    const owner = Boolean(topic) && topic.owner_id === this.me().id;
    $("#upload-form", this.root).hidden = !owner;
    $("#upload-owner-only", this.root).hidden = owner || !topic;
    $("#goal-form", this.root).hidden = !topic;
    // The day picker offers no day ahead: a goal cannot count from the future (en-CA is ISO).
    $("#goal-since", this.root).max = new Date().toLocaleDateString("en-CA");
    this.materials.clear();
    this.refresh();
    // Citations name materials: keep their names at hand even when another tab is open.
    if (this.current !== "tab-materials") this.loadMaterials();
  }

  refresh() {
    const tab = this.current;
    if (tab === "tab-materials") this.loadMaterials();
    else if (tab === "tab-goals") this.showGoals();
    else if (tab === "tab-progress") this.showProgress();
    else if (tab === "tab-report") this.showReport();
  }

  materialName(id) {
    return this.materials.get(id)?.filename ?? null;
  }

  // A member added or removed a file of the topic: the list follows without a reload.
  materialChanged(event) {
    if (event.type === "material.added") this.materials.set(event.material.id, event.material);
    else this.materials.delete(event.material_id);
    if (this.current === "tab-materials") this.loadMaterials();
  }

  // materials

  async loadMaterials() {
    const list = $("#materials", this.root);
    if (!this.topic) return clear(list, h("li", { class: "empty" }, "This session has no topic."));
    try {
      const rows = await api.materials(this.topic.id);
      if (this.signal.aborted) return;
      for (const row of rows) this.materials.set(row.id, row);
      if (!rows.length) return clear(list, h("li", { class: "empty" }, "No materials yet."));
      clear(
        list,
        rows.map((m) => this.materialItem(m)),
      );
    } catch (error) {
      clear(list, h("li", { class: "empty" }, `Materials unavailable: ${error.message}`));
    }
  }

  materialItem(m) {
    const kind =
      { "application/pdf": "PDF", "text/markdown": "Markdown", "text/plain": "Text" }[
        m.content_type
      ] || m.content_type;
    const pages = m.pages ? ` · ${m.pages} pages` : "";
    return h(
      "li",
      { class: "material", dataset: { id: String(m.id) } },
      h("span", { class: "file-icon", "aria-hidden": "true" }, kind === "PDF" ? "PDF" : "TXT"),
      h(
        "span",
        { class: "material-text" },
        h("span", { class: "filename" }, m.filename),
        h(
          "span",
          { class: "hint" },
          `${kind} · ${bytes(m.size_bytes)}${pages} · ${m.chunks} passages`,
        ),
      ),
      h(
        "button",
        {
          type: "button",
          class: "link-button download",
          "aria-label": `Download ${m.filename}`,
          onclick: () =>
            api.downloadMaterial(m).catch((error) => toast(`Download failed: ${error.message}`)),
        },
        "Download",
      ),
    );
  }

  async upload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const input = $("#upload-file", form);
    const file = input.files && input.files[0];
    const error = $("#upload-error", form);
    const box = $(".upload-progress", form);
    const bar = $("#upload-progress", form);
    const label = $("#upload-percent", form);
    const submit = $('button[type="submit"]', form);
    error.textContent = "";
    if (!file) {
      error.textContent = "Choose a file first.";
      return;
    }
    box.hidden = false;
    bar.value = 0;
    label.textContent = "0%";
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const material = await api.upload(this.topic.id, file, (sent, total) => {
        const value = Math.round((sent / total) * 100);
        bar.value = value;
        label.textContent = `${value}%`;
      });
      bar.value = 100;
      label.textContent = "100%";
      this.materials.set(material.id, material);
      toast(`“${material.filename}” is ready: ${material.chunks} passages`, "info");
      input.value = "";
      await this.loadMaterials();
    } catch (failure) {
      box.hidden = true;
      error.textContent = uploadProblem(failure);
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  // goals

  metricChanged() {
    const metric = $("#goal-metric", this.root).value;
    const target = $("#goal-target", this.root);
    const accuracy = metric === "quiz_accuracy";
    target.max = accuracy ? "1" : "";
    target.step = accuracy ? "0.05" : "1";
    target.placeholder = accuracy ? "0.8" : "30";
    $("#goal-target-hint", this.root).textContent = accuracy ? "a fraction from 0 to 1" : "";
  }

  async showGoals() {
    const list = $("#goals", this.root);
    if (!this.topic) return clear(list);
    try {
      const goals = await api.goals(this.topic.id);
      if (this.signal.aborted) return;
      if (!goals.length)
        return clear(list, h("li", { class: "empty" }, "No goals yet. Set one above."));
      clear(
        list,
        goals.map((g) => this.goalItem(g)),
      );
    } catch (error) {
      clear(list, h("li", { class: "empty" }, `Goals unavailable: ${error.message}`));
    }
  }

  goalItem(goal) {
    const value =
      goal.metric === "quiz_accuracy"
        ? percent(goal.value)
        : String(Math.round(goal.value * 10) / 10);
    const target = goal.metric === "quiz_accuracy" ? percent(goal.target) : String(goal.target);
    const due = goal.due_date ? ` · due ${goal.due_date}` : "";
    // A goal counts only what was done after it was set.
    const since = goal.since
      ? [
          " · ",
          h(
            "time",
            {
              class: "goal-since",
              datetime: goal.since,
              title: "Only what was done from then on counts",
            },
            `since ${day(goal.since)}`,
          ),
        ]
      : null;
    return h(
      "li",
      { class: "goal" },
      h(
        "div",
        { class: "goal-head" },
        h("span", { class: "goal-title" }, goal.title),
        h(
          "button",
          {
            type: "button",
            class: "link danger",
            "aria-label": `Delete goal ${goal.title}`,
            onclick: () => this.removeGoal(goal),
          },
          "delete",
        ),
      ),
      h("progress", {
        max: "1",
        value: String(goal.progress),
        "aria-label": `${goal.title}: ${percent(goal.progress)}`,
      }),
      h(
        "span",
        { class: "hint" },
        `${METRICS[goal.metric]}: ${value} of ${target} (${percent(goal.progress)})`,
        since,
        due,
      ),
    );
  }

  async addGoal(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("#goal-error", form);
    error.textContent = "";
    const data = new FormData(form);
    const target = Number(data.get("target"));
    if (!Number.isFinite(target) || target <= 0) {
      error.textContent = "The target must be a number above 0.";
      return;
    }
    const goal = {
      topic_id: this.topic.id,
      title: String(data.get("title")).trim(),
      metric: String(data.get("metric")),
      target,
    };
    if (data.get("due_date")) goal.due_date = String(data.get("due_date"));
    // A goal counts what was done from this day's start (local time); without it, from now.
    if (data.get("since")) {
      const since = new Date(`${data.get("since")}T00:00:00`);
      if (Number.isNaN(since.getTime()) || since > new Date()) {
        error.textContent = "“Count from” must be today or a day before.";
        return;
      }
      goal.since = since.toISOString();
    }
    try {
      await api.createGoal(goal);
      form.reset();
      this.metricChanged();
      await this.showGoals();
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  async removeGoal(goal) {
    try {
      await api.deleteGoal(goal.id);
    } catch (error) {
      toast(`Could not delete the goal: ${error.message}`, "error");
    }
    await this.showGoals();
  }

  // progress and report

  async showProgress() {
    const mastery = $("#mastery", this.root);
    if (this.topic) {
      try {
        const concepts = await api.progress(this.topic.id);
        if (this.signal.aborted) return;
        if (concepts.length) clear(mastery, masteryChart(concepts));
        else clear(mastery, h("p", { class: "hint" }, "Answer a quiz to start tracking concepts."));
      } catch (error) {
        clear(mastery, h("p", { class: "hint" }, `Progress unavailable: ${error.message}`));
      }
    }
    await showHistory($("#history", this.root));
  }

  async showReport() {
    const list = $("#report", this.root);
    try {
      const r = await api.report(this.sessionId);
      if (this.signal.aborted) return;
      const rows = [
        ["Duration", duration(r.duration_s)],
        ["Participants", r.participants],
        ["Messages", r.messages],
        ["Questions", r.questions],
        ["Tutor answers", r.tutor_turns],
        ["Tokens in / out", `${r.tokens_in} / ${r.tokens_out}`],
        ["Median first token", r.ttft_ms_p50 === null ? "—" : `${Math.round(r.ttft_ms_p50)} ms`],
        ["Quiz answers", r.quiz_answers],
        ["Quiz accuracy", r.quiz_accuracy === null ? "—" : percent(r.quiz_accuracy)],
      ];
      clear(
        list,
        rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]),
      );
    } catch (error) {
      clear(list, h("p", { class: "hint" }, `Report unavailable: ${error.message}`));
    }
  }
}

function uploadProblem(error) {
  if (error.status === 413) return `That file is too large: ${error.message}.`;
  if (error.status === 415)
    return `That file cannot be used: ${error.message}. Upload a PDF, Markdown or plain-text file.`;
  if (error.status === 403) return "Only the topic's owner can add materials.";
  if (error.status === 0)
    return "The upload did not get through: the connection closed. Very large files may exceed the server's limit.";
  return `The upload failed: ${error.message}.`;
}

function day(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime())
    ? String(iso)
    : when.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function duration(seconds) {
  const s = Math.round(seconds);
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours} h ${minutes} min` : `${minutes} min ${s % 60} s`;
}
