// Settings › Webhooks: the endpoint list (paginated like the keys), per-endpoint
// actions (test event, enable/disable, recent deliveries) and adding an endpoint.

import { api, errorMessage, UnauthorizedError } from "./api.js";
import { openDialog, openerOf, restoreFocusFor, showSecret } from "./dialogs.js";
import { $, badge, el, setBusy, show, toast } from "./dom.js";
import { relTimeEl } from "./format.js";
import { pagedList } from "./pager.js";

export const webhooks = pagedList({
  path: "/v1/webhooks",
  controls: { summary: $("webhooks-pagination-summary"), prev: $("webhooks-prev"), next: $("webhooks-next") },
  onLoading: () => {
    // Keep showing the current list while a new page loads.
    if (!webhooks.items.length) setView("loading");
    show($("webhooks-error"), false);
  },
  onError: (message) => {
    setView(webhooks.items.length ? "list" : "error");
    $("webhooks-error-message").textContent = message;
    show($("webhooks-error"), true);
  },
  onLoaded: () => render(),
});

/** One of loading, error, empty, list: which parts of the panel show. */
function setView(view) {
  show($("webhooks-loading"), view === "loading");
  show($("webhooks-empty"), view === "empty");
  show($("webhooks-list"), view === "list");
  show($("create-webhook-button"), view === "list" || view === "empty");
  if (view !== "list") show($("webhooks-pagination"), false);
  $("webhooks-panel").dataset.state = view;
}

function render() {
  $("webhooks-list").replaceChildren(...webhooks.items.map(webhookItem));
  if (!webhooks.items.length) {
    setView("empty");
    return;
  }
  setView("list");
  // The whole bar hides for a single page.
  show($("webhooks-pagination"), webhooks.renderControls());
}

function webhookItem(h) {
  const events = Array.isArray(h.events) && h.events.length
    ? h.events.map((e) => el("span", { class: "badge badge-event" }, e))
    : [el("span", { class: "muted" }, "All events")];
  const enabled = h.enabled !== false;
  const deliveries = el("div", { class: "deliveries", "data-testid": "webhook-deliveries", hidden: true });
  const toggleBtn = el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "webhook-toggle" },
    enabled ? "Disable" : "Enable");
  const testBtn = el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "webhook-test" }, "Send test event");
  const delBtn = el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-testid": "webhook-deliveries-button", "aria-expanded": "false" }, "Recent deliveries");

  testBtn.addEventListener("click", async () => {
    setBusy(testBtn, true, "Sending…");
    try {
      await api("POST", `/v1/webhooks/${encodeURIComponent(h.id)}/test`, { body: {} });
      toast("Test event queued.");
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) toast(`Could not send test event: ${errorMessage(err)}`);
    } finally {
      if (testBtn.isConnected) setBusy(testBtn, false);
    }
  });

  toggleBtn.addEventListener("click", async () => {
    setBusy(toggleBtn, true, enabled ? "Disabling…" : "Enabling…");
    try {
      await api("PATCH", `/v1/webhooks/${encodeURIComponent(h.id)}`, { body: { enabled: !enabled } });
      toast(enabled ? "Endpoint disabled." : "Endpoint enabled.");
      webhooks.load();
    } catch (err) {
      if (toggleBtn.isConnected) setBusy(toggleBtn, false);
      if (!(err instanceof UnauthorizedError)) toast(`Could not update endpoint: ${errorMessage(err)}`);
    }
  });

  delBtn.addEventListener("click", async () => {
    const open = delBtn.getAttribute("aria-expanded") === "true";
    if (open) {
      delBtn.setAttribute("aria-expanded", "false");
      deliveries.hidden = true;
      deliveries.replaceChildren();
      return;
    }
    delBtn.setAttribute("aria-expanded", "true");
    deliveries.hidden = false;
    deliveries.replaceChildren(el("p", { class: "muted" }, "Loading deliveries…"));
    try {
      const res = await api("GET", `/v1/webhooks/${encodeURIComponent(h.id)}/deliveries`);
      const rows = res && Array.isArray(res.data) ? res.data : [];
      deliveries.replaceChildren(rows.length ? deliveriesTable(rows) : el("p", { class: "muted" }, "No deliveries yet."));
    } catch (err) {
      if (err instanceof UnauthorizedError) return;
      deliveries.replaceChildren(el("p", { class: "field-error", role: "alert" }, errorMessage(err)));
    }
  });

  return el("li", { class: "webhook", "data-testid": "webhook-item", "data-webhook-id": h.id },
    el("div", { class: "webhook-main" },
      el("div", { class: "webhook-title" },
        el("code", { class: "webhook-url", "data-testid": "webhook-url" }, h.url),
        enabled ? badge("Enabled", "active", "webhook-enabled") : badge("Disabled", "revoked", "webhook-disabled")),
      h.description ? el("p", { class: "muted" }, h.description) : null,
      el("div", { class: "webhook-events" }, events),
      h.created_at ? el("p", { class: "sub muted" }, "Added ", relTimeEl(h.created_at)) : null),
    el("div", { class: "webhook-actions" }, testBtn, toggleBtn, delBtn),
    deliveries);
}

function deliveriesTable(rows) {
  const body = rows.map((d) => {
    const ok = Number.isInteger(d.status_code) && d.status_code >= 200 && d.status_code < 300;
    const result = d.status_code != null
      ? badge(String(d.status_code), ok ? "active" : "revoked", "delivery-status")
      : badge("Failed", "revoked", "delivery-status", d.error || undefined);
    return el("tr", {},
      el("td", { "data-label": "Event" }, el("code", {}, d.event_type || d.event_id || "")),
      el("td", { "data-label": "Attempted" }, d.attempted_at ? relTimeEl(d.attempted_at) : "—"),
      el("td", { "data-label": "Result" }, result, d.error ? el("span", { class: "sub muted" }, d.error) : null),
      el("td", { "data-label": "Duration" }, Number.isFinite(d.duration_ms) ? `${d.duration_ms} ms` : "—"),
      el("td", { "data-label": "Next retry" }, d.next_retry_at ? relTimeEl(d.next_retry_at) : "—"));
  });
  return el("table", { class: "data-table deliveries-table" },
    el("thead", {}, el("tr", {},
      ["Event", "Attempted", "Result", "Duration", "Next retry"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, body));
}

// ---------------------------------------------------------------------------
// Add an endpoint

function openCreate(opener) {
  $("webhook-form").reset();
  show($("webhook-form-error"), false);
  setBusy($("webhook-submit"), false);
  openDialog($("webhook-dialog"), opener);
  $("webhook-url").focus();
}

async function onSubmit(event) {
  event.preventDefault();
  const errBox = $("webhook-form-error");
  show(errBox, false);
  const url = $("webhook-url").value.trim();
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    errBox.textContent = "Enter a full http:// or https:// URL.";
    show(errBox, true);
    $("webhook-url").focus();
    return;
  }
  const body = { url };
  const description = $("webhook-description").value.trim();
  if (description) body.description = description;
  const events = $("webhook-events").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (events.length) body.events = events;
  const submit = $("webhook-submit");
  setBusy(submit, true, "Adding…");
  let created;
  try {
    created = await api("POST", "/v1/webhooks", { body });
  } catch (err) {
    setBusy(submit, false);
    if (err instanceof UnauthorizedError) return;
    errBox.textContent = errorMessage(err);
    show(errBox, true);
    return;
  }
  setBusy(submit, false);
  const opener = openerOf($("webhook-dialog"));
  $("webhook-dialog").close();
  if (created && typeof created.secret === "string" && created.secret) {
    showSecret({
      title: "Webhook signing secret",
      subject: `Endpoint ${created.url || url}. Use this secret to verify the signature of each delivery.`,
      secret: created.secret,
      usage: false,
      opener,
      onDone: () => webhooks.load(),
    });
    created.secret = undefined;
  } else {
    toast("Endpoint added.");
    webhooks.load();
  }
}

/** Sign-out: forget the list. */
export function resetWebhooks() {
  webhooks.reset();
  $("webhooks-list").replaceChildren();
}

export function wireWebhooks() {
  $("create-webhook-button").addEventListener("click", (e) => openCreate(e.currentTarget));
  $("empty-create-webhook-button").addEventListener("click", () => openCreate($("create-webhook-button")));
  $("webhook-form").addEventListener("submit", onSubmit);
  $("webhook-cancel").addEventListener("click", () => $("webhook-dialog").close());
  $("webhook-dialog").addEventListener("close", () => restoreFocusFor($("webhook-dialog")));
  $("webhooks-error-retry").addEventListener("click", () => webhooks.load());
}
