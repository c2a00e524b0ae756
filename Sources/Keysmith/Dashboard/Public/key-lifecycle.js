// A key's lifecycle from its row: roll it (a successor now, the old key kept for a grace period,
// the new secret shown once) and switch it off and on again (PATCH enabled).

import { api, errorMessage, UnauthorizedError } from "./api.js";
import { openDialog, openerOf, restoreFocusFor, showSecret } from "./dialogs.js";
import { $, setBusy, show, toast } from "./dom.js";
import { formatDateTime } from "./format.js";
import { isSelf } from "./key-row.js";

const DEFAULT_GRACE_SECONDS = 86400;
const MSG_GONE = "This key no longer exists or has been revoked. Refresh the list.";

// Set by wireKeyLifecycle.
let ctx = {
  list: null,                 // the keys list (pager.js)
  replaceRow: () => {},       // (id, updated, focusSelector): draw one row again
  selfEnded: () => {},        // (reason: "disabled" | "rolled"): this page's own key stopped working
};
let rollTarget = null;

// ---------------------------------------------------------------------------
// Roll

function graceSeconds() {
  const checked = $("roll-form").querySelector('input[name="grace"]:checked');
  const value = checked ? Number(checked.value) : DEFAULT_GRACE_SECONDS;
  return Number.isInteger(value) ? value : DEFAULT_GRACE_SECONDS;
}

/** When the old key stops working with the chosen grace: now + grace, never later than its own expiry. */
function oldKeyEnd(key, grace, now = Date.now()) {
  const end = now + grace * 1000;
  const current = key.expires_at ? Date.parse(key.expires_at) : NaN;
  return Number.isNaN(current) ? end : Math.min(end, current);
}

function describeGrace() {
  if (!rollTarget) return;
  const grace = graceSeconds();
  $("roll-grace-hint").textContent = grace === 0
    ? "The old key is revoked at once: requests with it fail immediately."
    : `The old key keeps working until ${formatDateTime(new Date(oldKeyEnd(rollTarget, grace)).toISOString())}, then expires.`;
}

export function openRoll(key, opener) {
  rollTarget = key;
  $("roll-form").reset(); // back to the default grace (24 hours)
  $("roll-message").textContent = `Issue a new secret for “${key.name}” (${key.id}). The new key gets the same name, `
    + "scope, permissions, rate limit, allowed addresses and metadata; its secret is shown once.";
  show($("roll-self-warning"), isSelf(key));
  show($("roll-error"), false);
  setBusy($("roll-submit"), false);
  $("roll-cancel").disabled = false;
  describeGrace();
  openDialog($("roll-dialog"), opener);
  const checked = $("roll-form").querySelector('input[name="grace"]:checked');
  if (checked) checked.focus();
}

function showRollError(message) {
  $("roll-error").textContent = message;
  show($("roll-error"), true);
}

async function onRollSubmit(event) {
  event.preventDefault();
  const key = rollTarget;
  const submit = $("roll-submit");
  if (!key || submit.disabled) return;
  const grace = graceSeconds();
  show($("roll-error"), false);
  setBusy(submit, true, "Rolling…");
  $("roll-cancel").disabled = true;
  let created;
  try {
    created = await api("POST", `/v1/api-keys/${encodeURIComponent(key.id)}/roll`, { body: { grace_seconds: grace } });
  } catch (err) {
    setBusy(submit, false);
    $("roll-cancel").disabled = false;
    if (err instanceof UnauthorizedError) return;
    showRollError(err.status === 404 ? MSG_GONE : errorMessage(err));
    return;
  }
  setBusy(submit, false);
  $("roll-cancel").disabled = false;
  const opener = openerOf($("roll-dialog"));
  rollTarget = null;
  $("roll-dialog").close();
  const selfLost = isSelf(key) && grace === 0;
  const refresh = () => {
    if (selfLost) {
      ctx.selfEnded("rolled");
      return;
    }
    ctx.list.page = 1; // the new key sorts first
    ctx.list.load();
  };
  if (!created || typeof created.secret !== "string" || !created.secret) {
    toast("Key rolled, but the server did not return the new secret.");
    refresh();
    return;
  }
  const end = grace === 0 ? "was revoked" : `keeps working until ${formatDateTime(new Date(oldKeyEnd(key, grace)).toISOString())}`;
  showSecret({
    title: "Your rolled API key",
    subject: `“${created.name}” replaces ${key.id}, which ${end}. Deploy the new key before then.`,
    secret: created.secret,
    usage: true,
    opener,
    onDone: () => {
      toast(`Rolled “${key.name}”.`);
      refresh();
    },
  });
  created.secret = undefined; // drop our reference
  created = null;
}

// ---------------------------------------------------------------------------
// Enable / disable

/** The row's switch changed: send it, and draw the row from the answer (or put the switch back). */
export async function toggleEnabled(key, input) {
  const enabled = input.checked;
  const row = input.closest("tr");
  const error = row && row.querySelector('[data-testid="enabled-error"]');
  if (error) {
    error.hidden = true;
    error.textContent = "";
  }
  input.disabled = true;
  input.setAttribute("aria-busy", "true");
  let updated;
  try {
    updated = await api("PATCH", `/v1/api-keys/${encodeURIComponent(key.id)}`, { body: { enabled } });
  } catch (err) {
    if (err instanceof UnauthorizedError) return;
    if (!input.isConnected) return;
    input.checked = !enabled;
    input.disabled = false;
    input.removeAttribute("aria-busy");
    if (error) {
      error.textContent = err.status === 404 ? MSG_GONE : errorMessage(err);
      error.hidden = false;
    }
    input.focus();
    return;
  }
  if (!enabled && isSelf(key)) {
    ctx.selfEnded("disabled");
    return;
  }
  ctx.replaceRow(key.id, { ...key, ...(updated && typeof updated === "object" ? updated : { enabled }) }, '[data-action="enabled"]');
  toast(enabled
    ? `Enabled “${key.name}”: requests with it are accepted again.`
    : `Disabled “${key.name}”: requests with it are refused until you enable it again.`);
}

/**
 * @param list        the keys list (pager.js), reloaded after a roll
 * @param replaceRow  (id, updated, focusSelector) draws one row again
 * @param selfEnded   (reason) the key this page is signed in with stopped working ("disabled" or "rolled")
 */
export function wireKeyLifecycle({ list, replaceRow, selfEnded }) {
  ctx = { list, replaceRow, selfEnded };
  $("roll-form").addEventListener("submit", onRollSubmit);
  $("roll-form").addEventListener("change", describeGrace);
  $("roll-cancel").addEventListener("click", () => $("roll-dialog").close());
  $("roll-dialog").addEventListener("close", () => {
    rollTarget = null;
    restoreFocusFor($("roll-dialog"));
  });
}
