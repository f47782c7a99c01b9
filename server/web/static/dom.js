// Building DOM nodes. Text always goes in as text nodes, so names, messages and file names
// can never become markup; the only HTML the page inserts comes from markdown.js.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export function clock(ts) {
  const when = ts ? new Date(ts) : new Date();
  if (Number.isNaN(when.getTime())) return "";
  return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function percent(fraction) {
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

// Short, polite notices in a corner: errors the learner should see but need not act on.
export function toast(message, kind = "info", ms = 4000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  for (const existing of box.children) {
    if (existing.textContent === message) return; // the same notice is already up
  }
  const item = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    message,
  );
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

export function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean);
  const letters = parts.slice(0, 2).map((p) => [...p][0].toUpperCase());
  return letters.join("") || "?";
}

// A stable, pleasant hue per user so avatars are told apart at a glance.
export function hue(id) {
  return (Number(id) * 137) % 360;
}

export function avatar(user, extra = "") {
  const el = h(
    "span",
    { class: `avatar ${extra}`.trim(), "aria-hidden": "true" },
    initials(user.name),
  );
  el.style.setProperty("--hue", String(hue(user.id)));
  return el;
}
