// Small inline SVG charts, drawn from numbers with createElementNS: labels are text nodes.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(width, height, label) {
  return svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "xMidYMid meet",
  });
}

// One horizontal bar per concept: mastery from 0 to 1.
export function masteryChart(concepts) {
  const row = 26;
  const width = 320;
  const labelWidth = 120;
  const barWidth = width - labelWidth - 44;
  const height = Math.max(1, concepts.length) * row + 4;
  const summary = concepts.map((c) => `${c.concept} ${Math.round(c.mastery * 100)}%`).join(", ");
  const root = frame(width, height, `Concept mastery: ${summary}`);
  concepts.forEach((c, i) => {
    const y = i * row + 4;
    const value = Math.max(0, Math.min(1, c.mastery));
    const name = c.concept.length > 18 ? `${c.concept.slice(0, 17)}…` : c.concept;
    root.append(svg("text", { x: 0, y: y + 14, class: "chart-label" }, name));
    root.append(
      svg("rect", {
        x: labelWidth,
        y: y + 3,
        width: barWidth,
        height: 14,
        rx: 7,
        class: "chart-track",
      }),
    );
    const bar = svg("rect", {
      x: labelWidth,
      y: y + 3,
      width: Math.max(4, value * barWidth),
      height: 14,
      rx: 7,
      class: "chart-bar",
    });
    bar.append(
      svg("title", {}, `${c.concept}: ${Math.round(value * 100)}% after ${c.reviews} review(s)`),
    );
    root.append(bar);
    root.append(
      svg(
        "text",
        { x: width, y: y + 14, class: "chart-value", "text-anchor": "end" },
        `${Math.round(value * 100)}%`,
      ),
    );
  });
  return root;
}

// Vertical bars over time, one per bucket, for one measure (e.g. study minutes per day).
export function historyChart(buckets, key, unit) {
  const width = 320;
  const height = 130;
  const bottom = 110;
  const top = 14;
  const left = 4;
  const values = buckets.map((b) => Number(b[key]) || 0);
  const max = Math.max(...values, 0);
  const scale = max > 0 ? (bottom - top) / max : 0;
  const step = (width - left) / Math.max(1, buckets.length);
  const total = values.reduce((a, b) => a + b, 0);
  const root = frame(
    width,
    height,
    `${unit} per day: ${Math.round(total)} in total over ${buckets.length} days, at most ${Math.round(max)} in a day`,
  );
  root.append(
    svg("line", { x1: left, y1: bottom + 0.5, x2: width, y2: bottom + 0.5, class: "chart-axis" }),
  );
  buckets.forEach((b, i) => {
    const value = values[i];
    const barHeight = Math.max(value > 0 ? 2 : 0, value * scale);
    const bar = svg("rect", {
      x: left + i * step + step * 0.15,
      y: bottom - barHeight,
      width: Math.max(1, step * 0.7),
      height: barHeight,
      rx: 1.5,
      class: "chart-bar",
    });
    bar.append(svg("title", {}, `${day(b.bucket_start)}: ${round(value)} ${unit}`));
    root.append(bar);
  });
  if (buckets.length) {
    root.append(
      svg("text", { x: left, y: height - 4, class: "chart-label" }, day(buckets[0].bucket_start)),
    );
    root.append(
      svg(
        "text",
        { x: width, y: height - 4, class: "chart-label", "text-anchor": "end" },
        day(buckets[buckets.length - 1].bucket_start),
      ),
    );
  }
  root.append(
    svg(
      "text",
      { x: width, y: 10, class: "chart-value", "text-anchor": "end" },
      max > 0 ? `max ${round(max)} ${unit}` : "nothing yet",
    ),
  );
  return root;
}

function day(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime())
    ? ""
    : when.toLocaleDateString([], { month: "short", day: "numeric" });
}

function round(value) {
  return value >= 10 ? Math.round(value) : Math.round(value * 10) / 10;
}
