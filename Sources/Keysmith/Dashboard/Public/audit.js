// Settings › Audit log: the workspace's audit events, newest first, paginated like the other
// lists and filtered by action. A key's id opens its detail view.

import { actionBadge, actorLabel, AUDIT_ACTIONS, changesList, originLine } from "./audit-entry.js";
import { $, el, show } from "./dom.js";
import { formatDateTime, relTimeEl } from "./format.js";
import { openKeyDetail } from "./key-detail.js";
import { pagedList } from "./pager.js";

const filters = { action: "" };

export const audit = pagedList({
  path: "/v1/audit-events",
  params: () => (filters.action ? { action: filters.action } : {}),
  controls: { summary: $("audit-pagination-summary"), prev: $("audit-prev"), next: $("audit-next") },
  onLoading: () => {
    $("audit-panel").dataset.state = "loading";
    $("audit-card").classList.toggle("is-loading", true);
    $("audit-table").setAttribute("aria-busy", "true");
    show($("audit-loading"), !audit.loaded);
  },
  onError: (message) => {
    setIdle();
    $("audit-panel").dataset.state = "error";
    $("audit-error-message").textContent = message;
    show($("audit-error"), true);
  },
  onLoaded: () => {
    setIdle();
    show($("audit-error"), false);
    render();
    $("audit-panel").dataset.action = filters.action;
    $("audit-panel").dataset.page = String(audit.page);
    $("audit-panel").dataset.state = "ready";
  },
});

function setIdle() {
  $("audit-card").classList.toggle("is-loading", false);
  $("audit-table").setAttribute("aria-busy", "false");
  show($("audit-loading"), false);
}

function render() {
  $("audit-tbody").replaceChildren(...audit.items.map(auditRow));
  const empty = audit.items.length === 0;
  show($("audit-table"), !empty);
  show($("audit-empty"), empty);
  $("audit-empty-text").textContent = filters.action
    ? "No events with this action. Choose another action or all actions."
    : "Changes to keys and webhooks will be listed here.";
  show($("audit-pagination"), !empty);
  if (!empty) audit.renderControls();
}

function targetCell(event) {
  if (event.target_type !== "api_key") {
    return [el("span", { class: "sub muted" }, "Webhook"), el("code", { "data-testid": "audit-target" }, event.target_id)];
  }
  return [
    el("span", { class: "sub muted" }, "API key"),
    el("button", {
      type: "button", class: "link-button", "data-testid": "audit-target", "data-key-id": event.target_id,
      "aria-label": `Details of key ${event.target_id}`, "aria-haspopup": "dialog",
      onclick: (e) => openKeyDetail(event.target_id, e.currentTarget),
    }, el("code", {}, event.target_id)),
  ];
}

function auditRow(event) {
  return el("tr", { "data-testid": "audit-row", "data-event-id": event.id, "data-action": event.action },
    el("td", { class: "cell-date", "data-label": "When" },
      relTimeEl(event.at, { "data-testid": "audit-at" }),
      el("span", { class: "sub muted" }, formatDateTime(event.at))),
    el("td", { "data-label": "Action" }, actionBadge(event.action)),
    el("td", { "data-label": "Target" }, targetCell(event)),
    el("td", { "data-label": "By" }, actorLabel(event.actor), originLine(event)),
    el("td", { class: "cell-changes", "data-label": "Changes" }, changesList(event.changes)));
}

/** Sign-out: no filter, no rows, nothing pending. */
export function resetAudit() {
  audit.reset();
  filters.action = "";
  $("audit-action").value = "";
  $("audit-tbody").replaceChildren();
  show($("audit-error"), false);
}

export function wireAudit() {
  const select = $("audit-action");
  select.append(...AUDIT_ACTIONS.map(([value, label]) => el("option", { value }, label)));
  select.addEventListener("change", () => {
    filters.action = select.value;
    audit.page = 1;
    audit.load();
  });
  $("audit-refresh").addEventListener("click", () => audit.load());
  $("audit-error-retry").addEventListener("click", () => audit.load());
}
