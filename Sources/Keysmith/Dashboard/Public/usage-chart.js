// A key's requests per day as a bar chart: inline SVG drawn with DOM calls (no library, no
// markup strings), successes and refusals stacked, every day titled, and the same numbers in a
// table for whoever does not see the chart.

import { el } from "./dom.js";
import { formatDay } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 44 };

/** The reasons a request with the key was refused (KeyUsage in openapi.yaml), as the page names them. */
export const REFUSAL_REASONS = [
  ["wrong_secret", "wrong secret"],
  ["inactive", "revoked, disabled or expired"],
  ["forbidden", "scope or permission"],
  ["rate_limited", "rate limited"],
  ["ip", "address not allowed"],
];

const count = (n) => (Number.isFinite(n) && n > 0 ? n : 0);
const numberFmt = new Intl.NumberFormat("en");
const num = (n) => numberFmt.format(n);

export function refusals(bucket) {
  return REFUSAL_REASONS.reduce((sum, [field]) => sum + count(bucket[field]), 0);
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** The smallest of 1, 2, 5, 10, 20, 50, … that is at least `n`. */
function niceCeil(n) {
  if (n <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= n) return step * power;
  }
  return 10 * power;
}

function reasonsText(bucket) {
  return REFUSAL_REASONS.filter(([field]) => count(bucket[field]) > 0)
    .map(([field, label]) => `${num(count(bucket[field]))} ${label}`).join(", ");
}

function dayTitle(bucket) {
  const ok = count(bucket.success);
  const bad = refusals(bucket);
  const day = formatDay(bucket.start);
  if (!ok && !bad) return `${day}: no requests`;
  return `${day}: ${num(ok)} succeeded, ${num(bad)} refused${bad ? ` (${reasonsText(bucket)})` : ""}`;
}

let chartCount = 0;

function chartSvg(buckets, summary) {
  const id = `usage-chart-${++chartCount}`;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const bottom = MARGIN.top + plotH;
  const yMax = niceCeil(Math.max(0, ...buckets.map((b) => count(b.success) + refusals(b))));
  const height = (v) => (v > 0 ? Math.max(1, (v / yMax) * plotH) : 0);
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(2, slot * 0.7);

  const root = svg("svg", {
    class: "usage-chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "data-testid": "usage-chart",
    "aria-labelledby": `${id}-title ${id}-desc`,
  },
  svg("title", { id: `${id}-title` }, "Requests per day, last 30 days"),
  svg("desc", { id: `${id}-desc` }, summary));

  const ticks = yMax % 2 === 0 ? [0, yMax / 2, yMax] : [0, yMax];
  root.append(svg("g", { class: "chart-grid", "aria-hidden": "true" }, ticks.map((t) => {
    const y = bottom - (t / yMax) * plotH;
    return [
      svg("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y, y2: y }),
      svg("text", { x: MARGIN.left - 6, y, dy: "0.32em", "text-anchor": "end" }, num(t)),
    ];
  })));

  const labelled = new Set([0, Math.floor((buckets.length - 1) / 2), buckets.length - 1]);
  const labels = svg("g", { class: "chart-labels", "aria-hidden": "true" });
  const bars = svg("g", { class: "chart-bars" });
  buckets.forEach((b, i) => {
    const x = MARGIN.left + i * slot + (slot - barW) / 2;
    const ok = height(count(b.success));
    const bad = height(refusals(b));
    bars.append(svg("g", { class: "usage-day", "data-testid": "usage-day", "data-start": b.start },
      svg("title", {}, dayTitle(b)),
      svg("rect", { class: "usage-hit", x: MARGIN.left + i * slot, y: MARGIN.top, width: slot, height: plotH }),
      ok ? svg("rect", { class: "bar-success", "data-testid": "usage-bar-success", x, y: bottom - ok, width: barW, height: ok }) : null,
      bad ? svg("rect", { class: "bar-refused", "data-testid": "usage-bar-refused", x, y: bottom - ok - bad, width: barW, height: bad }) : null));
    if (labelled.has(i)) {
      const anchor = i === 0 ? "start" : i === buckets.length - 1 ? "end" : "middle";
      const lx = anchor === "start" ? MARGIN.left + i * slot : anchor === "end" ? MARGIN.left + (i + 1) * slot : x + barW / 2;
      labels.append(svg("text", { x: lx, y: HEIGHT - 8, "text-anchor": anchor }, formatDay(b.start)));
    }
  });
  root.append(bars, labels, svg("line", { class: "chart-axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: bottom, y2: bottom }));
  return root;
}

function dataTable(buckets) {
  const active = buckets.filter((b) => count(b.success) || refusals(b));
  if (!active.length) return null;
  return el("details", { class: "usage-table" },
    el("summary", {}, "Numbers by day"),
    el("table", { class: "data-table", "data-testid": "usage-table" },
      el("thead", {}, el("tr", {}, ["Day (UTC)", "Succeeded", "Refused", "Why refused"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, active.map((b) => el("tr", {},
        el("th", { scope: "row" }, formatDay(b.start)),
        el("td", {}, num(count(b.success))),
        el("td", {}, num(refusals(b))),
        el("td", {}, reasonsText(b) || "—"))))));
}

/** The chart, its legend and its table for the `data` of GET /v1/api-keys/{id}/usage (by day). */
export function usageChart(buckets) {
  const ok = buckets.reduce((sum, b) => sum + count(b.success), 0);
  const bad = buckets.reduce((sum, b) => sum + refusals(b), 0);
  const summary = ok || bad
    ? `${num(ok)} ${ok === 1 ? "request" : "requests"} succeeded and ${num(bad)} ${bad === 1 ? "was" : "were"} refused in the last 30 days (days in UTC).`
    : "No requests with this key in the last 30 days.";
  return el("figure", { class: "usage" },
    chartSvg(buckets, summary),
    el("figcaption", { class: "usage-caption" },
      el("span", { "data-testid": "usage-summary" }, summary),
      el("span", { class: "chart-legend", "aria-hidden": "true" },
        el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-success" }), "Succeeded"),
        el("span", { class: "legend-item" }, el("span", { class: "swatch swatch-refused" }), "Refused"))),
    dataTable(buckets));
}
