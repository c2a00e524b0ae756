// What can be done to API keys: create (then show the secret once), rename in place,
// and revoke after confirmation; the row's other buttons go to key-access.js (Access),
// key-lifecycle.js (Roll, the Enabled switch) and key-detail.js (Details).
// Each reloads the list it is given by wireKeyActions.

import { api, errorMessage, session, UnauthorizedError } from "./api.js";
import { forgetOpener, openDialog, openerOf, restoreFocusFor, showSecret } from "./dialogs.js";
import { $, el, setBusy, show, toast } from "./dom.js";
import { formatDateTime, toLocalInputValue } from "./format.js";
import { AccessFieldError, openAccess, readAccess, wireAccessDialog } from "./key-access.js";
import { openKeyDetail } from "./key-detail.js";
import { openRoll, toggleEnabled, wireKeyLifecycle } from "./key-lifecycle.js";
import { isSelf, keyRow, nameDisplay } from "./key-row.js";

let list = null; // the keys list of keys.js
let onSelfEnded = () => {};
let editing = null; // { tr, cancel() } of the row being renamed
let revokeTarget = null;

// ---------------------------------------------------------------------------
// Rename in place

function startRename(tr, key) {
  // A row that was re-rendered since took its form with it: nothing to cancel then.
  if (editing && editing.tr.isConnected) editing.cancel();
  const nameBody = tr.querySelector('[data-cell="name"] .cell-body');
  const renameBtn = tr.querySelector('[data-action="rename"]');
  const input = el("input", {
    type: "text", class: "rename-input", "data-testid": "rename-input", maxlength: "200",
    "aria-label": `New name for ${key.name}`, autocomplete: "off", spellcheck: "false",
  });
  input.value = key.name;
  const error = el("p", { class: "field-error", "data-testid": "rename-error", role: "alert", hidden: true });
  const save = el("button", { type: "submit", class: "btn btn-primary btn-sm", "data-testid": "rename-save" }, "Save");
  const cancelBtn = el("button", { type: "button", class: "btn btn-secondary btn-sm", "data-testid": "rename-cancel" }, "Cancel");
  const form = el("form", { class: "rename-form", "data-testid": "rename-form", novalidate: true },
    input, el("span", { class: "rename-buttons" }, save, cancelBtn), error);

  let done = false;
  const cancel = ({ restoreFocus = true } = {}) => {
    if (done) return;
    done = true;
    editing = null;
    nameBody.replaceChildren(nameDisplay(key));
    tr.classList.remove("is-editing");
    if (renameBtn) renameBtn.disabled = false;
    if (restoreFocus && renameBtn) renameBtn.focus();
  };
  editing = { tr, cancel: () => cancel({ restoreFocus: false }) };

  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      cancel();
    }
  });
  cancelBtn.addEventListener("click", () => cancel());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    error.hidden = true;
    if (!name) {
      error.textContent = "Name must not be empty.";
      error.hidden = false;
      input.focus();
      return;
    }
    if (name === key.name) {
      cancel();
      return;
    }
    input.disabled = true;
    setBusy(save, true, "Saving…");
    cancelBtn.disabled = true;
    let updated;
    try {
      updated = await api("PATCH", `/v1/api-keys/${encodeURIComponent(key.id)}`, { body: { name } });
    } catch (err) {
      if (err instanceof UnauthorizedError || done) return;
      input.disabled = false;
      setBusy(save, false);
      cancelBtn.disabled = false;
      error.textContent = err.status === 404
        ? "This key no longer exists or has been revoked. Refresh the list."
        : errorMessage(err);
      error.hidden = false;
      input.focus();
      return;
    }
    if (done) return;
    done = true;
    editing = null;
    const merged = { ...key, ...(updated && typeof updated === "object" ? updated : { name }) };
    const idx = list.items.findIndex((k) => k.id === key.id);
    if (idx >= 0) list.items[idx] = merged;
    if (isSelf(merged)) {
      session.me = { ...session.me, name: merged.name };
      $("signed-in-as").textContent = `Signed in with “${merged.name}”`;
    }
    const newRow = keyRow(merged);
    tr.replaceWith(newRow);
    const btn = newRow.querySelector('[data-action="rename"]');
    if (btn) btn.focus();
    toast(`Renamed to “${merged.name}”.`);
  });

  tr.classList.add("is-editing");
  if (renameBtn) renameBtn.disabled = true;
  nameBody.replaceChildren(form);
  input.focus();
  input.select();
}

// ---------------------------------------------------------------------------
// Create

function openCreate(opener) {
  $("create-form").reset();
  $("create-scope").value = "read";
  show($("create-error"), false);
  setBusy($("create-submit"), false);
  // Don't allow picking a time in the past (the server validates too).
  $("create-expires").min = toLocalInputValue(new Date(Date.now() + 60_000));
  // Left empty, the new key gets this key's permissions.
  $("create-permissions").placeholder = ((session.me && session.me.permissions) || ["*"]).join(", ");
  openDialog($("create-dialog"), opener);
  $("create-name").focus();
}

function showCreateError(message, focusEl) {
  const box = $("create-error");
  box.textContent = message;
  show(box, true);
  if (focusEl) focusEl.focus();
}

async function onCreateSubmit(event) {
  event.preventDefault();
  const submit = $("create-submit");
  if (submit.disabled) return;
  show($("create-error"), false);
  const name = $("create-name").value.trim();
  if (!name) {
    showCreateError("Name is required.", $("create-name"));
    return;
  }
  const body = { name, scope: $("create-scope").value || "read" };
  const description = $("create-description").value.trim();
  if (description) body.description = description;
  const expiresRaw = $("create-expires").value;
  if (expiresRaw) {
    const d = new Date(expiresRaw); // datetime-local is local time
    if (Number.isNaN(d.getTime())) {
      showCreateError("Enter a valid expiry date and time.", $("create-expires"));
      return;
    }
    body.expires_at = d.toISOString();
  }
  try {
    Object.assign(body, readAccess("create", { creating: true }));
  } catch (err) {
    if (err instanceof AccessFieldError) return showCreateError(err.message, err.field);
    throw err;
  }
  setBusy(submit, true, "Creating…");
  $("create-cancel").disabled = true;
  let created;
  try {
    created = await api("POST", "/v1/api-keys", { body });
  } catch (err) {
    setBusy(submit, false);
    $("create-cancel").disabled = false;
    if (err instanceof UnauthorizedError) return;
    showCreateError(errorMessage(err), $("create-name"));
    return;
  }
  setBusy(submit, false);
  $("create-cancel").disabled = false;
  const opener = openerOf($("create-dialog"));
  $("create-dialog").close();
  $("create-form").reset();
  if (!created || typeof created.secret !== "string" || !created.secret) {
    toast("Key created, but the server did not return its secret.");
    refreshAfterCreate();
    return;
  }
  const createdName = created.name;
  showSecret({
    title: "Your new API key",
    subject: `“${createdName}” · ${created.scope} scope${created.expires_at ? ` · expires ${formatDateTime(created.expires_at)}` : ""}`,
    secret: created.secret,
    usage: true,
    opener,
    onDone: () => {
      toast(`Created “${createdName}”.`);
      refreshAfterCreate();
    },
  });
  created.secret = undefined; // drop our reference
  created = null;
}

/** A new key sorts first: show page 1. */
function refreshAfterCreate() {
  list.page = 1;
  list.load();
}

// ---------------------------------------------------------------------------
// Revoke

function openRevoke(key, opener) {
  revokeTarget = key;
  $("revoke-message").textContent = `Revoke '${key.name}'? Requests using it will fail immediately.`;
  show($("revoke-self-warning"), isSelf(key));
  show($("revoke-error"), false);
  setBusy($("revoke-confirm"), false);
  openDialog($("revoke-dialog"), opener);
  $("revoke-cancel").focus();
}

async function onRevokeConfirm() {
  const key = revokeTarget;
  if (!key) return;
  const button = $("revoke-confirm");
  setBusy(button, true, "Revoking…");
  show($("revoke-error"), false);
  try {
    await api("DELETE", `/v1/api-keys/${encodeURIComponent(key.id)}`);
  } catch (err) {
    setBusy(button, false);
    if (err instanceof UnauthorizedError) return;
    if (err.status === 404) {
      $("revoke-dialog").close();
      toast(`“${key.name}” was already revoked.`);
      list.load();
      return;
    }
    $("revoke-error").textContent = errorMessage(err);
    show($("revoke-error"), true);
    return;
  }
  setBusy(button, false);
  revokeTarget = null;
  if (isSelf(key)) {
    onSelfEnded("revoked");
    return;
  }
  forgetOpener($("revoke-dialog"));
  $("revoke-dialog").close();
  $("keys-title").focus({ preventScroll: true });
  toast(`Revoked “${key.name}”.`);
  list.load();
}

// ---------------------------------------------------------------------------
// Wiring

/** The key of the row `node` is in, as the list last loaded it. */
function rowKey(node) {
  const tr = node.closest("tr[data-key-id]");
  const key = tr && list.items.find((k) => k.id === tr.dataset.keyId);
  return key ? { tr, key } : null;
}

function onKeysTableClick(event) {
  const button = event.target.closest("button[data-action]");
  const found = button && rowKey(button);
  if (!found) return;
  const { tr, key } = found;
  const action = button.dataset.action;
  if (action === "rename") startRename(tr, key);
  else if (action === "access") openAccess(key, button, (updated) => replaceRow(key.id, updated));
  else if (action === "roll") openRoll(key, button);
  else if (action === "details") openKeyDetail(key.id, button, key);
  else if (action === "revoke") openRevoke(key, button);
}

function onKeysTableChange(event) {
  const input = event.target.closest('input[data-action="enabled"]');
  const found = input && rowKey(input);
  if (found) toggleEnabled(found.key, input);
}

/** A key changed in place: its row is drawn again, and focus stays on the control that changed it. */
function replaceRow(id, updated, focusSelector = '[data-action="access"]') {
  const idx = list.items.findIndex((k) => k.id === id);
  if (idx >= 0) list.items[idx] = updated;
  const tr = $("keys-tbody").querySelector(`tr[data-key-id="${CSS.escape(id)}"]`);
  if (!tr) return;
  const row = keyRow(updated);
  tr.replaceWith(row);
  const control = row.querySelector(focusSelector);
  if (control) control.focus();
}

/**
 * @param keys       the keys list (pager.js) to read rows from and reload
 * @param selfEnded  (reason: "revoked" | "disabled" | "rolled") the key this page is signed in with stopped working
 */
export function wireKeyActions({ keys, selfEnded }) {
  list = keys;
  onSelfEnded = selfEnded;
  $("keys-tbody").addEventListener("click", onKeysTableClick);
  $("keys-tbody").addEventListener("change", onKeysTableChange);
  wireKeyLifecycle({ list, replaceRow, selfEnded });

  $("create-key-button").addEventListener("click", (e) => openCreate(e.currentTarget));
  $("empty-create-button").addEventListener("click", () => openCreate($("create-key-button")));
  $("create-form").addEventListener("submit", onCreateSubmit);
  $("create-cancel").addEventListener("click", () => $("create-dialog").close());
  $("create-dialog").addEventListener("close", () => restoreFocusFor($("create-dialog")));

  wireAccessDialog();

  $("revoke-confirm").addEventListener("click", onRevokeConfirm);
  $("revoke-cancel").addEventListener("click", () => $("revoke-dialog").close());
  $("revoke-dialog").addEventListener("close", () => {
    revokeTarget = null;
    restoreFocusFor($("revoke-dialog"));
  });
}
