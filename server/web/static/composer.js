// The composer's length limit: a counter as the text nears it, and a refusal, with the reason,
// of text the server would drop. The limit is the server's chat_max_chars (docs/protocol.md,
// "Limits"); a server configured otherwise says so in its invalid_frame error, which the room
// passes to limitFromError.

import { $ } from "./dom.js";

export const DEFAULT_MAX_CHARS = 4000;
// The counter appears from this share of the limit on.
const COUNT_FROM = 0.8;
const LONGER_THAN = /longer than (\d+) characters/;

const number = (n) => n.toLocaleString("en");

// The server counts code points (Python's len), not UTF-16 units.
export function length(text) {
  return [...text].length;
}

// The limit an invalid_frame error names, or null.
export function limitFromError(frame) {
  if (frame.code !== "invalid_frame" || typeof frame.message !== "string") return null;
  const found = LONGER_THAN.exec(frame.message);
  return found ? Number(found[1]) : null;
}

export class LengthGuard {
  constructor(root, maxChars = DEFAULT_MAX_CHARS) {
    this.root = root;
    this.maxChars = maxChars;
  }

  setLimit(maxChars) {
    this.maxChars = maxChars;
    this.update();
  }

  // Refreshes the counter from the composer's text.
  update() {
    const text = $("#composer-text", this.root).value;
    const count = $("#composer-count", this.root);
    const n = length(text);
    const over = n - this.maxChars;
    count.hidden = n < this.maxChars * COUNT_FROM;
    count.classList.toggle("over", over > 0);
    count.textContent =
      over > 0
        ? `${number(n)} / ${number(this.maxChars)} · ${number(over)} too many`
        : `${number(n)} / ${number(this.maxChars)}`;
    if (over <= 0) this.refuse("");
    return over;
  }

  // True when the text may be sent; otherwise says why and keeps it in the composer.
  check() {
    const over = this.update();
    if (over <= 0) return true;
    this.refuse(
      `Not sent: the limit is ${number(this.maxChars)} characters and this has ` +
        `${number(this.maxChars + over)}. Shorten it by ${number(over)}, or split it in two.`,
    );
    return false;
  }

  refuse(message) {
    $("#composer-error", this.root).textContent = message;
  }
}
