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
function withFreshSelfUsage(k) {
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

export function keyRow(key) {
  const k = withFreshSelfUsage(key);
  const revoked = Boolean(k.revoked_at);
  const expired = !revoked && Boolean(k.is_expired);
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
  if (revoked) status.append(badge("Revoked", "revoked", "badge-revoked", `Revoked ${k.revoked_at}`));
  else if (expired) status.append(badge("Expired", "expired", "badge-expired", k.expires_at ? `Expired ${k.expires_at}` : undefined));
  else status.append(badge("Active", "active", "badge-active"));
  if (dormant) {
    status.append(badge("Dormant", "dormant", "badge-dormant",
      k.last_used_at ? `Not used in the last ${DORMANT_DAYS} days` : "Never used"));
  }

  const actionsCell = cell({ class: "cell-actions", "data-label": "Actions" });
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
      el("button", {
        type: "button", class: "btn btn-ghost btn-sm btn-danger-text", "data-testid": "revoke-button", "data-action": "revoke",
        "aria-label": `Revoke ${k.name}`,
      }, "Revoke"),
    );
  }

  return el("tr", {
    "data-testid": "key-row",
    "data-key-id": k.id,
    class: [revoked ? "is-revoked" : "", expired ? "is-expired" : "", self ? "is-self" : ""].filter(Boolean).join(" ") || undefined,
  }, nameCell, scopeCell, createdCell, lastUsedCell, expiresCell, statusCell, actionsCell);
}

/** The name cell's content: name, "This key" badge, id and description. Rename puts it back on cancel. */
export function nameDisplay(k) {
  const wrap = el("div", { class: "name-wrap" },
    el("div", { class: "name-line" },
      el("span", { class: "key-name", "data-testid": "key-name" }, k.name),
      isSelf(k) ? badge("This key", "self", "this-key-badge", "You are signed in with this key") : null),
    el("code", { class: "key-id", "data-testid": "key-id", title: "Key ID" }, k.id));
  if (k.description) wrap.append(el("p", { class: "key-desc muted", "data-testid": "key-description" }, k.description));
  wrap.append(accessSummary(k));
  return wrap;
}
