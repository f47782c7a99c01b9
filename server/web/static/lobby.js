// The lobby: resume the current session, join one by code, start one on a topic.

import * as api from "./api.js";
import { busy } from "./auth.js";
import { $, clear, h } from "./dom.js";
import { showHistory } from "./study.js";

const enter = (session) => {
  location.hash = `#/session/${session.id}`;
};

export function setUpLobby() {
  const join = $("#join-form");
  join.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#join-error");
    error.textContent = "";
    const code = $("#join-code").value.replace(/\s+/g, "");
    if (!code) {
      error.textContent = "Enter the code someone shared with you.";
      return;
    }
    await busy(join, async () => {
      try {
        enter(await api.joinSession(code));
        join.reset();
      } catch (failure) {
        error.textContent = failure.status === 404 ? "No session has this code." : failure.message;
      }
    });
  });
  const form = $("#topic-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#topic-error");
    error.textContent = "";
    const data = new FormData(form);
    const title = String(data.get("title")).trim();
    if (!title) {
      error.textContent = "Give the topic a title.";
      return;
    }
    await busy(form, async () => {
      try {
        await api.createTopic(title, String(data.get("description")));
        form.reset();
        await showTopics();
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
  });
}

export async function showLobby() {
  await Promise.all([
    showCurrent(),
    showTopics(),
    showSessions(),
    showHistory($("#lobby-history")),
  ]);
}

async function showCurrent() {
  const box = $("#current-session");
  try {
    const session = await api.currentSession();
    if (!session) {
      clear(
        box,
        h(
          "p",
          { class: "hint" },
          "No session in progress. Start one from a topic, or join with a code.",
        ),
      );
      return;
    }
    clear(
      box,
      h(
        "div",
        { class: "current" },
        h(
          "div",
          {},
          h("strong", {}, session.title),
          h("span", { class: "hint" }, ` · code ${session.join_code}`),
        ),
        h(
          "button",
          { type: "button", class: "primary", onclick: () => enter(session) },
          "Resume session",
        ),
      ),
    );
  } catch (error) {
    clear(box, h("p", { class: "form-error" }, error.message));
  }
}

// Newest first; an ended session opens read-only, with its transcript and report.
async function showSessions() {
  const list = $("#sessions");
  try {
    const sessions = await api.sessions({ limit: 20 });
    if (!sessions.length) {
      clear(list, h("li", { class: "empty" }, "No sessions yet."));
      return;
    }
    clear(
      list,
      sessions.map((session) =>
        h(
          "li",
          { class: "topic session", dataset: { session: String(session.id) } },
          h(
            "div",
            { class: "topic-text" },
            h("strong", {}, session.title),
            h(
              "span",
              { class: `hint status-${session.status}` },
              `${session.status === "ended" ? "ended" : "active"} · ${new Date(
                session.created_at,
              ).toLocaleDateString()}`,
            ),
          ),
          h(
            "button",
            { type: "button", onclick: () => enter(session) },
            session.status === "ended" ? "Open" : "Enter",
          ),
        ),
      ),
    );
  } catch (error) {
    clear(list, h("li", { class: "form-error" }, error.message));
  }
}

async function showTopics() {
  const list = $("#topics");
  try {
    const topics = await api.topics();
    if (!topics.length) {
      clear(list, h("li", { class: "empty" }, "No topics yet: create your first one below."));
      return;
    }
    clear(list, topics.map(topicItem));
  } catch (error) {
    clear(list, h("li", { class: "form-error" }, error.message));
  }
}

function topicItem(topic) {
  const start = h(
    "button",
    { type: "button", "aria-label": `Start a session on ${topic.title}` },
    "Start session",
  );
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      enter(await api.createSession(topic.id));
    } catch (error) {
      start.disabled = false;
      start.after(h("span", { class: "form-error" }, ` ${error.message}`));
    }
  });
  const rename = h(
    "button",
    { type: "button", class: "link-button", "aria-label": `Rename ${topic.title}` },
    "Rename",
  );
  rename.addEventListener("click", async () => {
    const title = prompt("New title for this topic", topic.title);
    if (title === null || !title.trim() || title.trim() === topic.title) return;
    try {
      await api.updateTopic(topic.id, { title: title.trim() });
      await showTopics();
    } catch (error) {
      rename.after(h("span", { class: "form-error" }, ` ${error.message}`));
    }
  });
  const remove = h(
    "button",
    { type: "button", class: "link-button", "aria-label": `Delete ${topic.title}` },
    "Delete",
  );
  remove.addEventListener("click", async () => {
    const sure = confirm(
      `Delete “${topic.title}” with its materials, goals and progress? Its sessions stay.`,
    );
    if (!sure) return;
    try {
      await api.deleteTopic(topic.id);
      await Promise.all([showTopics(), showSessions()]);
    } catch (error) {
      remove.after(h("span", { class: "form-error" }, ` ${error.message}`));
    }
  });
  return h(
    "li",
    { class: "topic", dataset: { topic: String(topic.id) } },
    h(
      "div",
      { class: "topic-text" },
      h("strong", {}, topic.title),
      topic.description ? h("span", { class: "hint" }, topic.description) : null,
    ),
    h("div", { class: "topic-actions" }, start, rename, remove),
  );
}
