// One row of the API-keys table. Rendering only: the buttons carry `data-action`,
// and key-actions.js handles their clicks for the whole table.

import { accessSummary } from "./key-access.js";
import { session } from "./api.js";
import { badge, el } from "./dom.js";
import { formatDate, relTimeEl } from "./format.js";

const DORMANT_DAYS = 90;

export function isDormant(key, now = Date.now()) {
  if (key.revoked_at) return false;
  if (!key.last_used_at) return true;
  const t = Date.parse(key.last_used_at);
  return Number.isNaN(t) ? false : now - t >= DORMANT_DAYS * 86400 * 1000;
}

export function isSelf(key) {
  return Boolean(session.me && key.id === session.me.id);
}

function scopeBadge(scope) {
  const kind = scope === "admin" ? "admin" : scope === "read-write" ? "rw" : "read";
  return el("span", { class: `badge badge-scope badge-${kind}`, "data-testid": "key-scope" }, scope);
}

/** A table cell whose content sits in one wrapper, so the stacked (narrow) layout can put a label beside it. */
function cell(attrs, ...children) {
  return el("td", attrs, el("div", { class: "cell-body" }, ...children));
}

/** The server records usage in batches; for the key this page is using, whoami's fresher value wins. */
export function withFreshSelfUsage(k) {
  const me = session.me;
  if (!me || k.id !== me.id || !me.last_used_at) return k;
  const listed = k.last_used_at ? Date.parse(k.last_used_at) : NaN;
  if (!Number.isNaN(listed) && listed >= Date.parse(me.last_used_at)) return k;
  return {
    ...k,
    last_used_at: me.last_used_at,
    last_used_ip: me.last_used_ip ?? k.last_used_ip,
    last_used_user_agent: me.last_used_user_agent ?? k.last_used_user_agent,
  };
}

/** Revoked, Expired, Disabled or Active: the badge of the key's state (the Status column, the detail view). */
export function stateBadge(k) {
  if (k.revoked_at) return badge("Revoked", "revoked", "badge-revoked", `Revoked ${k.revoked_at}`);
  if (k.is_expired) return badge("Expired", "expired", "badge-expired", k.expires_at ? `Expired ${k.expires_at}` : undefined);
  if (k.enabled === false) return badge("Disabled", "disabled", "badge-disabled", "Requests with this key are refused until it is enabled again");
  return badge("Active", "active", "badge-active");
}

export function keyRow(key) {
  const k = withFreshSelfUsage(key);
  const revoked = Boolean(k.revoked_at);
  const expired = !revoked && Boolean(k.is_expired);
  const disabled = k.enabled === false;
  const dormant = isDormant(k);
  const self = isSelf(k);

  const nameCell = cell({ class: "cell-name", "data-label": "Name", "data-cell": "name" }, nameDisplay(k));

  const scopeCell = cell({ "data-label": "Scope" }, scopeBadge(k.scope));

  const createdCell = cell({ class: "cell-date", "data-label": "Created" },
    el("time", { datetime: k.created_at, title: k.created_at, "data-testid": "key-created" }, formatDate(k.created_at)));

  const lastUsedCell = cell({ class: "cell-date", "data-label": "Last used" });
  const lastUsed = lastUsedCell.firstChild;
  if (k.last_used_at) {
    lastUsed.append(relTimeEl(k.last_used_at, { "data-testid": "key-last-used" }));
    if (k.last_used_ip) {
      lastUsed.append(el("span", {
        class: "sub muted", "data-testid": "key-last-used-ip",
        title: k.last_used_user_agent ? `User agent: ${k.last_used_user_agent}` : undefined,
      }, `from ${k.last_used_ip}`));
    }
  } else {
    lastUsed.append(el("span", { class: "muted", "data-testid": "key-last-used", title: "This key has never been used" }, "Never"));
  }

  const expiresCell = cell({ class: "cell-date", "data-label": "Expires" });
  const expires = expiresCell.firstChild;
  if (k.expires_at) {
    expires.append(
      el("time", { datetime: k.expires_at, title: k.expires_at, "data-testid": "key-expires" }, formatDate(k.expires_at)),
      el("span", { class: "sub muted" }, relTimeEl(k.expires_at)),
    );
  } else {
    expires.append(el("span", { class: "muted", "data-testid": "key-expires" }, "Never"));
  }

  const statusCell = cell({ class: "cell-status", "data-label": "Status", "data-testid": "key-status" });
  const status = statusCell.firstChild;
  status.append(stateBadge(k));
  if (expired && disabled) status.append(badge("Disabled", "disabled", "badge-disabled"));
  if (dormant) {
    status.append(badge("Dormant", "dormant", "badge-dormant",
      k.last_used_at ? `Not used in the last ${DORMANT_DAYS} days` : "Never used"));
  }
  if (!revoked && !expired) status.append(enabledSwitch(k));

  const actionsCell = cell({ class: "cell-actions", "data-label": "Actions" });
  actionsCell.firstChild.append(el("button", {
    type: "button", class: "btn btn-ghost btn-sm", "data-testid": "details-button", "data-action": "details",
    "aria-label": `Details of ${k.name}`, "aria-haspopup": "dialog",
  }, "Details"));
  if (!revoked) {
    actionsCell.firstChild.append(
      el("button", {
        type: "button", class: "btn btn-ghost btn-sm", "data-testid": "rename-button", "data-action": "rename",
        "aria-label": `Rename ${k.name}`,
      }, "Rename"),
      el("button", {
        type: "button", class: "btn btn-ghost btn-sm", "data-testid": "access-button", "data-action": "access",
        "aria-label": `Access rules of ${k.name}`,
      }, "Access"),
      expired ? null : el("button", {
        type: "button", class: "btn btn-ghost btn-sm", "data-testid": "roll-button", "data-action": "roll",
        "aria-label": `Roll ${k.name}`, "aria-haspopup": "dialog",
      }, "Roll"),
      el("button", {
        type: "button", class: "btn btn-ghost btn-sm btn-danger-text", "data-testid": "revoke-button", "data-action": "revoke",
        "aria-label": `Revoke ${k.name}`,
      }, "Revoke"),
    );
  }

  return el("tr", {
    "data-testid": "key-row",
    "data-key-id": k.id,
    "data-enabled": String(!disabled),
    class: [revoked ? "is-revoked" : "", expired ? "is-expired" : "", disabled ? "is-disabled" : "", self ? "is-self" : ""]
      .filter(Boolean).join(" ") || undefined,
  }, nameCell, scopeCell, createdCell, lastUsedCell, expiresCell, statusCell, actionsCell);
}

/** The name cell's content: name, "This key" badge, id and description. Rename puts it back on cancel. */
export function nameDisplay(k) {
  const wrap = el("div", { class: "name-wrap" },
    el("div", { class: "name-line" },
      el("span", { class: "key-name", "data-testid": "key-name" }, k.name),
      isSelf(k) ? badge("This key", "self", "this-key-badge", "You are signed in with this key") : null),
    el("span", { class: "key-id" },
      el("code", { "data-testid": "key-id", title: "Key ID" }, k.id),
      k.key_prefix ? el("span", { class: "sep", "aria-hidden": "true" }, " · ") : null,
      k.key_prefix ? el("code", {
        class: "key-prefix", "data-testid": "key-prefix",
        title: "The start of the secret, to match the key to where it is deployed",
      }, el("span", { class: "visually-hidden" }, "Secret starts with "), `${k.key_prefix}…`) : null));
  if (k.rolled_from) {
    wrap.append(el("p", { class: "key-rolled muted", "data-testid": "key-rolled-from" },
      "Replaces ", el("code", {}, k.rolled_from)));
  }
  if (k.description) wrap.append(el("p", { class: "key-desc muted", "data-testid": "key-description" }, k.description));
  wrap.append(accessSummary(k));
  return wrap;
}

/** The row's Enabled switch; key-lifecycle.js sends the change (PATCH enabled) and draws the row again. */
function enabledSwitch(k) {
  const input = el("input", {
    type: "checkbox", role: "switch", "data-testid": "enabled-switch", "data-action": "enabled",
    "aria-describedby": `enabled-error-${k.id}`,
  });
  input.checked = k.enabled !== false;
  return el("span", { class: "enabled-control" },
    el("label", { class: "toggle toggle-sm", title: input.checked ? "Requests with this key are accepted" : "Requests with this key are refused" },
      input,
      el("span", { class: "toggle-track", "aria-hidden": "true" }),
      el("span", {}, "Enabled", el("span", { class: "visually-hidden" }, `: ${k.name}`))),
    el("span", { class: "field-error", id: `enabled-error-${k.id}`, "data-testid": "enabled-error", role: "alert", hidden: true }));
}
