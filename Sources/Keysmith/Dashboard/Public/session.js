// Signing in and out. The admin key lives in sessionStorage only (this tab, until it
// closes), is checked with whoami, and must have the admin scope.

import { api, errorMessage, session, UnauthorizedError, whenRejected } from "./api.js";
import { $, el, setBusy, show } from "./dom.js";

const STORAGE_KEY = "keysmith.apiKey";

const MSG_REJECTED = "Your key was rejected or revoked. Sign in again.";
const MSG_NOT_ADMIN = "This key cannot manage keys. Sign in with a key that has the admin scope.";
export const MSG_SIGNED_OUT = "You have signed out. The key has been removed from this browser tab.";
export const MSG_SELF_REVOKED = "You revoked the key you were signed in with. Sign in with another admin key.";
export const MSG_SELF_DISABLED = "You disabled the key you were signed in with. Sign in with another admin key (and enable it again there if you need it).";
export const MSG_SELF_ROLLED = "You rolled the key you were signed in with and revoked it at once. Sign in with the new key.";

// main.js says what entering and leaving the app mean for the views.
let hooks = { entered: () => {}, left: () => {} };

/** @param entered  after sign-in: render the current route; @param left  after sign-out: clear every view */
export function configureSession({ entered, left }) {
  hooks = { entered, left };
  whenRejected(() => signOut(MSG_REJECTED, "error"));
}

function readStoredToken() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    /* storage disabled: the session lasts until reload */
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* ignore */
  }
}

function normalizeToken(raw) {
  let t = String(raw || "").trim();
  if (/^bearer\s+/i.test(t)) t = t.replace(/^bearer\s+/i, "").trim();
  return t;
}

function showSigninMessage(message, kind = "error") {
  const box = $("signin-message");
  box.textContent = message || "";
  box.className = `alert ${kind === "info" ? "alert-info" : "alert-error"}`;
  box.setAttribute("role", kind === "info" ? "status" : "alert");
  box.dataset.kind = kind;
  show(box, Boolean(message));
}

function showSignin(message, kind = "error") {
  show($("boot"), false);
  show($("app-view"), false);
  show($("account"), false);
  show($("signin-view"), true);
  document.title = "Sign in · Keysmith";
  showSigninMessage(message, kind);
  const input = $("signin-key");
  input.value = "";
  setBusy($("signin-submit"), false);
  input.focus();
}

export function signOut(message = MSG_SIGNED_OUT, kind = "info") {
  forgetToken();
  session.token = null;
  session.me = null;
  session.workspace = null;
  hooks.left();
  $("workspace-name").textContent = "";
  $("signed-in-as").textContent = "";
  showSignin(message, kind);
}

/** Validate a token with whoami. Returns {ok, who} or {ok:false, message, reason}. */
async function verifyToken(token) {
  let who;
  try {
    who = await api("GET", "/v1/auth/whoami", { token, signOutOn401: false });
  } catch (err) {
    if (err instanceof UnauthorizedError) return { ok: false, message: MSG_REJECTED, reason: "rejected" };
    return { ok: false, message: errorMessage(err), reason: "error" };
  }
  if (!who || !who.key) return { ok: false, message: "Unexpected response from the server.", reason: "error" };
  if (who.key.scope !== "admin") return { ok: false, message: MSG_NOT_ADMIN, reason: "scope" };
  return { ok: true, who };
}

function enterApp(token, who) {
  session.token = token;
  session.me = who.key;
  session.workspace = who.workspace || null;
  storeToken(token);
  $("workspace-name").textContent = (who.workspace && who.workspace.name) || "—";
  $("signed-in-as").textContent = `Signed in with “${who.key.name}”`;
  $("signed-in-as").title = `Key ${who.key.id}`;
  show($("boot"), false);
  show($("signin-view"), false);
  show($("account"), true);
  show($("app-view"), true);
  hooks.entered();
}

async function onSigninSubmit(event) {
  event.preventDefault();
  const token = normalizeToken($("signin-key").value);
  if (!token) {
    showSigninMessage("Paste your API key to sign in.");
    $("signin-key").focus();
    return;
  }
  if (!token.includes(":")) {
    showSigninMessage("That does not look like a Keysmith key. A key looks like key_id:ks_… (include the part before the colon).");
    $("signin-key").focus();
    return;
  }
  const button = $("signin-submit");
  setBusy(button, true, "Signing in…");
  showSigninMessage("");
  const result = await verifyToken(token);
  setBusy(button, false);
  if (!result.ok) {
    const msg = result.reason === "rejected"
      ? "This key was rejected. It may be mistyped, expired or revoked."
      : result.message;
    showSigninMessage(msg);
    $("signin-key").select();
    $("signin-key").focus();
    return;
  }
  $("signin-key").value = "";
  enterApp(token, result.who);
}

/** On page load: resume the tab's session if its key still works, else ask for one. */
export async function boot() {
  const token = readStoredToken();
  if (!token) {
    showSignin("");
    return;
  }
  const result = await verifyToken(token);
  if (result.ok) {
    enterApp(token, result.who);
  } else if (result.reason === "error") {
    // Server trouble: keep the key, offer a retry instead of throwing the session away.
    const b = $("boot");
    b.replaceChildren(
      el("div", { class: "alert alert-error", role: "alert", "data-testid": "boot-error" }, result.message),
      el("div", { class: "boot-actions" },
        el("button", { type: "button", class: "btn btn-primary", onclick: () => location.reload() }, "Try again"),
        el("button", { type: "button", class: "btn btn-secondary", onclick: () => signOut(MSG_SIGNED_OUT, "info") }, "Sign out")),
    );
    show(b, true);
  } else {
    forgetToken();
    showSignin(result.reason === "scope" ? MSG_NOT_ADMIN : MSG_REJECTED, "error");
  }
}

export function wireSession() {
  $("signin-form").addEventListener("submit", onSigninSubmit);
  $("signout-button").addEventListener("click", () => signOut(MSG_SIGNED_OUT, "info"));
}
