// A key in detail, opened from its row or from the audit log: what it is, its last use (time,
// address, user agent), its requests of the last 30 days as a chart, and its audit trail.
// Three requests, each section drawn when its answer comes; a closed or reopened dialog drops
// the answers of the one before.

import { api, errorMessage, session, UnauthorizedError } from "./api.js";
import { actionBadge, actorLabel, changesList, originLine } from "./audit-entry.js";
import { openDialog, restoreFocusFor } from "./dialogs.js";
import { $, badge, el, show } from "./dom.js";
import { formatDateTime, relTimeEl } from "./format.js";
import { accessSummary } from "./key-access.js";
import { isDormant, isSelf, stateBadge, withFreshSelfUsage } from "./key-row.js";
import { usageChart } from "./usage-chart.js";

const AUDIT_LIMIT = 20;

let seq = 0; // the dialog's current opening; answers for an older one are dropped

function loadingLine(text) {
  return el("p", { class: "muted detail-loading", role: "status" }, el("span", { class: "spinner", "aria-hidden": "true" }), ` ${text}`);
}

function failedLine(err) {
  return el("p", { class: "field-error", role: "alert" }, errorMessage(err));
}

function item(term, ...description) {
  return [el("dt", {}, term), el("dd", {}, ...description)];
}

function dateWithRelative(iso, testid) {
  return [el("time", { datetime: iso, title: iso, "data-testid": testid }, formatDateTime(iso)), " (", relTimeEl(iso), ")"];
}

function renderOverview(k) {
  $("detail-title").textContent = k.name;
  $("detail-subtitle").textContent = k.description || "";
  const status = el("span", { class: "detail-badges" }, stateBadge(k),
    k.is_expired && k.enabled === false ? badge("Disabled", "disabled", "badge-disabled") : null,
    isDormant(k) ? badge("Dormant", "dormant", "badge-dormant") : null,
    isSelf(k) ? badge("This key", "self", "this-key-badge") : null);
  const metadata = k.metadata && typeof k.metadata === "object"
    ? el("pre", { class: "detail-metadata", "data-testid": "detail-metadata" }, JSON.stringify(k.metadata, null, 2))
    : el("span", { class: "muted" }, "None");
  $("detail-overview").replaceChildren(
    ...item("Key ID", el("code", { "data-testid": "detail-key-id" }, k.id)),
    ...item("Secret starts with", k.key_prefix
      ? el("code", { "data-testid": "detail-key-prefix" }, `${k.key_prefix}…`)
      : el("span", { class: "muted" }, "Not recorded (the key is older than this feature)")),
    ...item("Status", status),
    ...item("Scope", el("code", {}, k.scope)),
    ...item("Created", ...dateWithRelative(k.created_at, "detail-created"),
      " by ", k.created_by === "cli" ? "the command line" : el("code", {}, k.created_by)),
    ...item("Expires", ...(k.expires_at ? dateWithRelative(k.expires_at, "detail-expires") : ["Never"])),
    ...(k.revoked_at ? item("Revoked", ...dateWithRelative(k.revoked_at, "detail-revoked")) : []),
    ...(k.rolled_from ? item("Replaces", el("code", { "data-testid": "detail-rolled-from" }, k.rolled_from)) : []),
    ...item("Access", accessSummary(k)),
    ...item("Metadata", metadata),
  );
}

function renderLastUse(key) {
  const k = withFreshSelfUsage(key);
  if (!k.last_used_at) {
    $("detail-last-use").replaceChildren(...item("When", el("span", { "data-testid": "detail-last-used" }, "Never used")));
    return;
  }
  $("detail-last-use").replaceChildren(
    ...item("When", el("span", { "data-testid": "detail-last-used" }, ...dateWithRelative(k.last_used_at, "detail-last-used-at"))),
    ...item("IP address", k.last_used_ip
      ? el("code", { "data-testid": "detail-last-used-ip" }, k.last_used_ip)
      : el("span", { class: "muted" }, "Unknown")),
    ...item("User agent", k.last_used_user_agent
      ? el("code", { class: "detail-user-agent", "data-testid": "detail-last-used-user-agent" }, k.last_used_user_agent)
      : el("span", { class: "muted" }, "None sent")),
  );
}

function renderAudit(res) {
  const events = res && Array.isArray(res.data) ? res.data : [];
  const total = res && res.meta && Number.isFinite(res.meta.total) ? res.meta.total : events.length;
  if (!events.length) {
    $("detail-audit").replaceChildren(el("p", { class: "muted" }, "No recorded changes."));
    return;
  }
  $("detail-audit").replaceChildren(
    el("ol", { class: "audit-trail", "data-testid": "detail-audit-list" }, events.map((e) => el("li", {
      class: "audit-trail-entry", "data-testid": "detail-audit-entry", "data-action": e.action,
    },
    el("div", { class: "audit-trail-head" }, actionBadge(e.action), relTimeEl(e.at), el("span", { class: "muted" }, "by"),
      actorLabel(e.actor), originLine(e)),
    e.changes && Object.keys(e.changes).length ? changesList(e.changes) : null))),
    total > events.length
      ? el("p", { class: "hint" }, `The latest ${events.length} of ${total} events; the Audit log lists them all.`)
      : null);
}

/** Runs `request` and draws its answer with `onLoaded`, unless the dialog has moved on. */
async function section(opened, target, request, onLoaded) {
  const token = session.token;
  try {
    const res = await request();
    if (opened === seq && token === session.token) onLoaded(res);
  } catch (err) {
    if (err instanceof UnauthorizedError || opened !== seq || token !== session.token) return;
    target.replaceChildren(failedLine(err));
    target.dataset.state = "error";
    if (err.status === 404 && target === $("detail-last-use")) { // the key itself is not (or no longer) there
      $("detail-error").textContent = errorMessage(err);
      show($("detail-error"), true);
    }
  }
}

/**
 * Open the detail view of key `id`. `known` (the key as a list showed it) fills the dialog at once;
 * the key is read again for its latest use either way.
 */
export function openKeyDetail(id, opener, known) {
  const opened = ++seq;
  const path = `/v1/api-keys/${encodeURIComponent(id)}`;
  $("detail-title").textContent = known ? known.name : `Key ${id}`;
  $("detail-subtitle").textContent = known && known.description ? known.description : "";
  show($("detail-error"), false);
  if (known) {
    renderOverview(known);
    renderLastUse(known);
  } else {
    $("detail-overview").replaceChildren(loadingLine("Loading the key…"));
    $("detail-last-use").replaceChildren(loadingLine("Loading…"));
  }
  $("detail-usage").replaceChildren(loadingLine("Loading usage…"));
  $("detail-usage").dataset.state = "loading";
  $("detail-audit").replaceChildren(loadingLine("Loading the audit trail…"));
  $("detail-audit").dataset.state = "loading";
  $("detail-dialog").dataset.keyId = id;
  openDialog($("detail-dialog"), opener);
  $("detail-title").focus();

  section(opened, $("detail-last-use"), () => api("GET", path), (key) => {
    renderOverview(key);
    renderLastUse(key);
  });
  section(opened, $("detail-usage"), () => api("GET", `${path}/usage?granularity=day`), (res) => {
    const buckets = res && Array.isArray(res.data) ? res.data : [];
    $("detail-usage").replaceChildren(usageChart(buckets));
    $("detail-usage").dataset.state = "ready";
  });
  const query = new URLSearchParams({ target_id: id, limit: String(AUDIT_LIMIT) });
  section(opened, $("detail-audit"), () => api("GET", `/v1/audit-events?${query}`), (res) => {
    renderAudit(res);
    $("detail-audit").dataset.state = "ready";
  });
}

export function wireKeyDetail() {
  $("detail-close").addEventListener("click", () => $("detail-dialog").close());
  $("detail-dialog").addEventListener("close", () => {
    seq += 1;
    restoreFocusFor($("detail-dialog"));
  });
}
