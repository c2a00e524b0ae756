// Modal dialogs: focus goes back to whatever opened them, and the one-time secret
// dialog (a new key, a webhook signing secret) closes only by its explicit button and
// leaves no trace of the secret in the DOM.

import { session } from "./api.js";
import { $, show } from "./dom.js";

const returnFocus = new WeakMap();

export function openDialog(dialog, opener) {
  returnFocus.set(dialog, opener || document.activeElement);
  if (!dialog.open) dialog.showModal();
}

/** The element that opened `dialog`, to hand on to a dialog that follows it. */
export function openerOf(dialog) {
  return returnFocus.get(dialog);
}

/** Close without giving focus back (the caller moves it somewhere better). */
export function forgetOpener(dialog) {
  returnFocus.delete(dialog);
}

export function restoreFocusFor(dialog) {
  const target = returnFocus.get(dialog);
  returnFocus.delete(dialog);
  if (target && target.isConnected && !target.disabled && typeof target.focus === "function") {
    target.focus();
  } else if (session.token) {
    // The heading of the settings page on show.
    const panel = [...$("app-view").querySelectorAll(".content > section")].find((s) => !s.hidden);
    const heading = panel && panel.querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
  }
}

export function closeAllDialogs() {
  for (const d of document.querySelectorAll("dialog")) {
    if (d.id === "secret-dialog") finishSecretDialog({ runCallback: false });
    else if (d.open) d.close();
  }
}

// ---------------------------------------------------------------------------
// One-time secret

let secretCtx = null; // { onDone, allowClose }

export function showSecret({ title, subject, secret, usage = false, opener, onDone }) {
  const dialog = $("secret-dialog");
  secretCtx = { onDone, allowClose: false };
  $("secret-title").textContent = title;
  $("secret-for").textContent = subject || "";
  $("secret-value").textContent = secret;
  $("secret-copy-status").textContent = "";
  show($("secret-usage"), usage);
  openDialog(dialog, opener);
  $("secret-copy").focus();
}

function finishSecretDialog({ runCallback = true } = {}) {
  const dialog = $("secret-dialog");
  const ctx = secretCtx;
  if (ctx) ctx.allowClose = true;
  if (dialog.open) dialog.close();
  // Remove every trace of the secret from the DOM.
  $("secret-value").textContent = "";
  $("secret-for").textContent = "";
  $("secret-copy-status").textContent = "";
  const sel = window.getSelection();
  if (sel) sel.removeAllRanges();
  secretCtx = null;
  if (runCallback && ctx) {
    restoreFocusFor(dialog);
    if (typeof ctx.onDone === "function") ctx.onDone();
  } else {
    returnFocus.delete(dialog);
  }
}

function selectSecretText() {
  const node = $("secret-value");
  const range = document.createRange();
  range.selectNodeContents(node);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

async function copySecret() {
  const text = $("secret-value").textContent;
  const status = $("secret-copy-status");
  if (!text) return;
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error("clipboard unavailable");
    await navigator.clipboard.writeText(text);
    status.textContent = "Copied to clipboard.";
    status.dataset.result = "copied";
    return;
  } catch {
    /* fall back below */
  }
  selectSecretText();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  status.textContent = ok
    ? "Copied to clipboard."
    : "Could not copy automatically. The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.";
  status.dataset.result = ok ? "copied" : "selected";
}

export function wireSecretDialog() {
  const secret = $("secret-dialog");
  secret.addEventListener("cancel", (e) => e.preventDefault());
  secret.addEventListener("close", () => {
    if (secretCtx && !secretCtx.allowClose) secret.showModal(); // closed some other way: put it back
  });
  $("secret-copy").addEventListener("click", copySecret);
  $("secret-value").addEventListener("click", selectSecretText);
  $("secret-done").addEventListener("click", () => finishSecretDialog());
}
