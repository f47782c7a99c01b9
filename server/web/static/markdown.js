// A small Markdown renderer for untrusted text (chat, questions, the tutor's answers).
//
// Safety comes from the order of work: the whole source is HTML-escaped first, and every later
// step only wraps pieces of that escaped text in a fixed set of tags. No attribute value comes
// from the source except a link's href, which must be an http(s) URL and is escaped like the
// rest. It also renders incomplete text sensibly, because answers are re-rendered as they
// stream: an unclosed code fence runs to the end, an unclosed ** stays as typed.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const MAX_DEPTH = 6;

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function renderMarkdown(source) {
  // \u0001 and \u0002 delimit placeholders below; NUL has no business in text either.
  const clean = String(source ?? "")
    .replace(/[\u0000-\u0002]/g, "\uFFFD")
    .replace(/\r\n?/g, "\n");
  return blocks(escapeHtml(clean).split("\n"), 0);
}

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}&gt; ?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;

function isBlank(line) {
  return /^\s*$/.test(line);
}

function startsBlock(line) {
  return (
    FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line)
  );
}

function blocks(lines, depth) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i += 1;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      i = codeBlock(lines, i, m, out);
    } else if ((m = HEADING.exec(line))) {
      // Answers sit inside a page that has its own h1/h2: their headings start lower.
      const level = Math.min(6, m[1].length + 2);
      out.push(`<h${level}>${inline(m[2])}</h${level}>`);
      i += 1;
    } else if (RULE.test(line)) {
      out.push("<hr>");
      i += 1;
    } else if (QUOTE.test(line) && depth < MAX_DEPTH) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ""));
      out.push(`<blockquote>${blocks(inner, depth + 1)}</blockquote>`);
    } else if ((m = ITEM.exec(line)) && depth < MAX_DEPTH) {
      i = list(lines, i, m, depth, out);
    } else {
      const para = [line.trim()];
      i += 1;
      while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines[i]))
        para.push(lines[i++].trim());
      out.push(`<p>${inline(para.join("\n")).replace(/\n/g, "<br>")}</p>`);
    }
  }
  return out.join("");
}

function codeBlock(lines, start, open, out) {
  const marker = open[1];
  const closing = new RegExp(`^ {0,3}${marker[0] === "`" ? "`" : "~"}{${marker.length},}[ \\t]*$`);
  const body = [];
  let i = start + 1;
  while (i < lines.length && !closing.test(lines[i])) body.push(lines[i++]);
  const lang = open[2] ? ` class="language-${open[2]}"` : "";
  out.push(`<pre><code${lang}>${body.join("\n")}</code></pre>`);
  return i + 1; // past the closing fence, or past the end when the fence is still open
}

function list(lines, start, first, depth, out) {
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (m && m[1].length === indent && /\d/.test(m[2]) === ordered) {
      items.push([m[3]]);
      i += 1;
    } else if (isBlank(lines[i])) {
      let j = i;
      while (j < lines.length && isBlank(lines[j])) j += 1;
      const next = lines[j];
      const continues =
        next !== undefined && (leading(next) > indent || sameList(next, indent, ordered));
      if (!continues) break;
      i = j;
    } else if (leading(lines[i]) > indent || !startsBlock(lines[i])) {
      items[items.length - 1].push(lines[i]); // nested content or a lazy continuation
      i += 1;
    } else {
      break;
    }
  }
  const tag = ordered ? "ol" : "ul";
  const number = ordered ? parseInt(first[2], 10) : 1;
  const startAttr = ordered && number !== 1 ? ` start="${number}"` : "";
  const rendered = items.map((item) => `<li>${listItem(item, depth)}</li>`);
  out.push(`<${tag}${startAttr}>${rendered.join("")}</${tag}>`);
  return i;
}

function sameList(line, indent, ordered) {
  const m = ITEM.exec(line);
  return Boolean(m) && m[1].length === indent && /\d/.test(m[2]) === ordered;
}

function leading(line) {
  return line.length - line.trimStart().length;
}

function listItem(itemLines, depth) {
  const [head, ...rest] = itemLines;
  const margin = Math.min(...rest.filter((l) => !isBlank(l)).map(leading), Infinity);
  const body = rest.map((l) => (isBlank(l) ? "" : l.slice(Number.isFinite(margin) ? margin : 0)));
  const html = blocks([head, ...body], depth + 1);
  // A tight item is a single paragraph: drop the <p> so lists stay compact.
  const single = /^<p>([\s\S]*)<\/p>$/.exec(html);
  return single && !single[1].includes("<p>") ? single[1] : html;
}

// Inline markup on escaped text. Code spans and links are set aside as numbered placeholders
// first, so emphasis never reaches into code or URLs.
function inline(text) {
  const slots = [];
  const keep = (html) => `\u0001${slots.push(html) - 1}\u0002`;
  let s = text.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, __, code) =>
    keep(`<code>${code}</code>`),
  );
  s = s.replace(/\[([^\]\n]{1,500})\]\(\s*([^\s()]+)\s*\)/g, (match, label, url) =>
    isWebUrl(url) ? keep(`${anchor(url)}${emphasis(label)}</a>`) : match,
  );
  s = s.replace(/https?:\/\/(?:(?!&lt;|&gt;|&quot;|&#39;)[^\s\u0001])+/g, (url) => {
    const trail = /[.,;:!?)\]]+$/.exec(url);
    const bare = trail ? url.slice(0, -trail[0].length) : url;
    return keep(`${anchor(bare)}${bare}</a>`) + (trail ? trail[0] : "");
  });
  s = emphasis(s);
  return s.replace(/\u0001(\d+)\u0002/g, (_, n) => slots[Number(n)]);
}

function isWebUrl(escapedUrl) {
  return /^https?:\/\/[^\s]+$/i.test(escapedUrl);
}

function anchor(escapedUrl) {
  return `<a href="${escapedUrl}" target="_blank" rel="noopener noreferrer">`;
}

function emphasis(s) {
  return s
    .replace(/\*\*\*(\S(?:[\s\S]*?\S)?)\*\*\*/g, "<strong><em>$1</em></strong>")
    .replace(/\*\*(\S(?:[\s\S]*?\S)?)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(\S(?:[\s\S]*?\S)?)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/\*([^\s*](?:[^*]*?[^\s*])?)\*/g, "<em>$1</em>")
    .replace(/(^|[^\w])_([^\s_](?:[^_]*?[^\s_])?)_(?!\w)/g, "$1<em>$2</em>")
    .replace(/~~(\S(?:[\s\S]*?\S)?)~~/g, "<del>$1</del>");
}
