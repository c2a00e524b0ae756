// How one audit event reads, in the audit log and in a key's audit trail: what was done,
// by whom and from where, and what changed. Everything is text: values are shown as JSON.

import { session } from "./api.js";
import { el } from "./dom.js";

/** Every action the server records (AuditAction in openapi.yaml), as the page names it. */
export const AUDIT_ACTIONS = [
  ["api_key.created", "Key created"],
  ["api_key.renamed", "Key renamed"],
  ["api_key.description_changed", "Description changed"],
  ["api_key.rolled", "Key rolled"],
  ["api_key.disabled", "Key disabled"],
  ["api_key.enabled", "Key enabled"],
  ["api_key.revoked", "Key revoked"],
  ["api_key.permissions_changed", "Permissions changed"],
  ["api_key.rate_limit_changed", "Rate limit changed"],
  ["api_key.allowed_ips_changed", "Allowed IPs changed"],
  ["api_key.metadata_changed", "Metadata changed"],
  ["webhook.created", "Webhook created"],
  ["webhook.updated", "Webhook updated"],
  ["webhook.deleted", "Webhook deleted"],
];
const LABELS = new Map(AUDIT_ACTIONS);

export function actionLabel(action) {
  return LABELS.get(action) || String(action);
}

/** The action as a badge whose tone says how serious it is. */
export function actionBadge(action) {
  const kind = /\.(revoked|deleted|disabled)$/.test(action) ? "revoked"
    : /\.(created|enabled)$/.test(action) ? "active"
      : action === "api_key.rolled" ? "expired" : "neutral";
  return el("span", { class: `badge badge-${kind}`, "data-testid": "audit-action", "data-action": action, title: action },
    actionLabel(action));
}

/** Who acted: a key id (this page's own key said so), or the command line. */
export function actorLabel(actor) {
  if (actor === "cli") return el("span", { "data-testid": "audit-actor" }, "Command line");
  const self = session.me && session.me.id === actor;
  return el("span", { "data-testid": "audit-actor" },
    el("code", { title: "Key ID" }, actor), self ? el("span", { class: "muted" }, " (this key)") : null);
}

/** Where from: the client address, with the user agent and request id on hover. */
export function originLine(event) {
  const title = [event.user_agent && `User agent: ${event.user_agent}`, event.request_id && `Request ID: ${event.request_id}`]
    .filter(Boolean).join("\n");
  return el("span", { class: "sub muted", "data-testid": "audit-origin", title: title || undefined },
    event.ip ? `from ${event.ip}` : "address unknown");
}

const MAX_VALUE_CHARS = 160;

function valueText(value) {
  const text = typeof value === "string" ? `“${value}”` : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

function isChange(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    && Object.keys(value).length === 2 && "from" in value && "to" in value;
}

/** `{"name": {"from": "a", "to": "b"}, "scope": "read"}` as a list: `name “a” → “b”`, `scope “read”`. */
export function changesList(changes) {
  const entries = changes && typeof changes === "object" ? Object.entries(changes) : [];
  if (!entries.length) return el("span", { class: "muted" }, "—");
  return el("ul", { class: "audit-changes", "data-testid": "audit-changes" },
    entries.map(([field, value]) => el("li", {},
      el("code", { class: "audit-field" }, field), " ",
      isChange(value)
        ? [el("span", { class: "audit-from" }, valueText(value.from)), el("span", { "aria-hidden": "true" }, " → "),
          el("span", { class: "visually-hidden" }, " to "),
          el("span", { class: "audit-to" }, valueText(value.to))]
        : el("span", {}, valueText(value)))));
}
