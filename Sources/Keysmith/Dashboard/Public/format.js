// Dates and times as the page shows them: relative ("3 days ago") with the exact
// ISO timestamp on hover, or a short date.

import { el } from "./dom.js";

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const dateFmt = new Intl.DateTimeFormat("en", { year: "numeric", month: "short", day: "numeric" });
const dateTimeFmt = new Intl.DateTimeFormat("en", {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
// Usage buckets are whole days in UTC: named in UTC, whatever the browser's zone.
const dayFmt = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" });

export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso);
  const diff = (t - now) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return diff <= 0 ? "just now" : "in a few seconds";
  if (abs < 3600) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), "hour");
  if (abs < 7 * 86400) return rtf.format(Math.round(diff / 86400), "day");
  if (abs < 30 * 86400) return rtf.format(Math.round(diff / (7 * 86400)), "week");
  if (abs < 365 * 86400) return rtf.format(Math.round(diff / (30.44 * 86400)), "month");
  return rtf.format(Math.round(diff / (365.25 * 86400)), "year");
}

export function formatDate(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : dateFmt.format(t);
}

export function formatDateTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : dateTimeFmt.format(t);
}

export function formatDay(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : dayFmt.format(t);
}

/** <time> showing a relative time, exact ISO timestamp on hover. Kept fresh by refreshRelativeTimes(). */
export function relTimeEl(iso, attrs = {}) {
  return el("time", { datetime: iso, title: iso, "data-relative": "", ...attrs, text: relativeTime(iso) });
}

export function refreshRelativeTimes() {
  for (const t of document.querySelectorAll("time[data-relative]")) {
    const iso = t.getAttribute("datetime");
    if (iso) t.textContent = relativeTime(iso);
  }
}

/** The value a datetime-local input expects, in local time. */
export function toLocalInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
