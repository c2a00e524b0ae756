// A key's access rules: its permissions, rate limit and allowed IP addresses. Read from the
// create form and the access dialog, shown under the key's name, and changed with PATCH.

import { api, errorMessage, UnauthorizedError } from "./api.js";
import { openDialog, restoreFocusFor } from "./dialogs.js";
import { $, el, setBusy, show, toast } from "./dom.js";

/** The entries of a list field: separated by commas, spaces or line breaks. */
function entries(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** A mistake in a field, with the field to focus. */
export class AccessFieldError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

function wholeNumber(raw, field, what) {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new AccessFieldError(`${what} must be a whole number, 1 or more.`, field);
  }
  return value;
}

/**
 * The access fields of the form whose inputs start with `prefix` (`create`, `access`), as the API takes
 * them. On create an empty field is left out (the new key inherits this key's permissions, has no limit,
 * and works from any address); when editing, an empty field clears the rule.
 */
export function readAccess(prefix, { creating }) {
  const body = {};
  const permissions = entries($(`${prefix}-permissions`).value);
  if (permissions.length || !creating) body.permissions = permissions;
  const limitRaw = $(`${prefix}-rate-limit`).value.trim();
  const windowRaw = $(`${prefix}-rate-window`).value.trim();
  if (limitRaw || windowRaw) {
    if (!limitRaw) throw new AccessFieldError("Enter the number of requests allowed per window.", $(`${prefix}-rate-limit`));
    body.rate_limit = {
      limit: wholeNumber(limitRaw, $(`${prefix}-rate-limit`), "The rate limit"),
      window_seconds: windowRaw ? wholeNumber(windowRaw, $(`${prefix}-rate-window`), "The window") : 60,
    };
  } else if (!creating) {
    body.rate_limit = null;
  }
  const ips = entries($(`${prefix}-allowed-ips`).value);
  if (ips.length) body.allowed_ips = ips;
  else if (!creating) body.allowed_ips = null;
  return body;
}

/** One line under the key's name: what it may do, how often, and from where. */
export function accessSummary(k) {
  const parts = [];
  const permissions = Array.isArray(k.permissions) ? k.permissions : ["*"];
  parts.push(el("span", { "data-testid": "key-permissions", title: "Permissions" },
    permissions.length ? permissions.join(", ") : "no permissions"));
  if (k.rate_limit) {
    parts.push(el("span", { "data-testid": "key-rate-limit", title: "Rate limit" },
      `${k.rate_limit.limit} requests / ${k.rate_limit.window_seconds} s`));
  }
  if (Array.isArray(k.allowed_ips)) {
    parts.push(el("span", { "data-testid": "key-allowed-ips", title: `Allowed addresses: ${k.allowed_ips.join(", ")}` },
      `from ${k.allowed_ips.join(", ")}`));
  }
  const line = el("p", { class: "key-access muted", "data-testid": "key-access" });
  parts.forEach((part, i) => {
    if (i) line.append(el("span", { class: "sep", "aria-hidden": "true" }, " · "));
    line.append(part);
  });
  return line;
}

// ---------------------------------------------------------------------------
// The access dialog

let target = null; // { key, onSaved }

export function openAccess(key, opener, onSaved) {
  target = { key, onSaved };
  $("access-form").reset();
  $("access-for").textContent = `“${key.name}” (${key.id})`;
  $("access-permissions").value = (Array.isArray(key.permissions) ? key.permissions : []).join(", ");
  $("access-rate-limit").value = key.rate_limit ? String(key.rate_limit.limit) : "";
  $("access-rate-window").value = key.rate_limit ? String(key.rate_limit.window_seconds) : "";
  $("access-allowed-ips").value = Array.isArray(key.allowed_ips) ? key.allowed_ips.join("\n") : "";
  show($("access-error"), false);
  setBusy($("access-submit"), false);
  openDialog($("access-dialog"), opener);
  $("access-permissions").focus();
}

function showAccessError(message, field) {
  $("access-error").textContent = message;
  show($("access-error"), true);
  if (field) field.focus();
}

async function onAccessSubmit(event) {
  event.preventDefault();
  const submit = $("access-submit");
  if (!target || submit.disabled) return;
  show($("access-error"), false);
  let body;
  try {
    body = readAccess("access", { creating: false });
  } catch (err) {
    if (err instanceof AccessFieldError) return showAccessError(err.message, err.field);
    throw err;
  }
  const { key, onSaved } = target;
  setBusy(submit, true, "Saving…");
  let updated;
  try {
    updated = await api("PATCH", `/v1/api-keys/${encodeURIComponent(key.id)}`, { body });
  } catch (err) {
    setBusy(submit, false);
    if (err instanceof UnauthorizedError) return;
    showAccessError(err.status === 404 ? "This key no longer exists or has been revoked. Refresh the list." : errorMessage(err),
      $("access-permissions"));
    return;
  }
  setBusy(submit, false);
  target = null;
  $("access-dialog").close();
  onSaved({ ...key, ...(updated && typeof updated === "object" ? updated : body) });
  toast(`Saved the access rules of “${key.name}”.`);
}

export function wireAccessDialog() {
  $("access-form").addEventListener("submit", onAccessSubmit);
  $("access-cancel").addEventListener("click", () => $("access-dialog").close());
  $("access-dialog").addEventListener("close", () => {
    target = null;
    restoreFocusFor($("access-dialog"));
  });
}
