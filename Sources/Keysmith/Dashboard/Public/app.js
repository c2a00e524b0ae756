// Keysmith dashboard: Settings › API Keys and Settings › Webhooks.
//
// Plain ES module, no dependencies. Everything that comes from the API is
// rendered with textContent / attributes, never parsed as HTML.
// The admin key lives in sessionStorage only.

const STORAGE_KEY = "keysmith.apiKey";
const PAGE_SIZE = 20;
const DORMANT_DAYS = 90;
const SEARCH_DEBOUNCE_MS = 250;
const ROUTES = {
  "/settings/api-keys": { name: "keys", title: "API Keys" },
  "/settings/webhooks": { name: "webhooks", title: "Webhooks" },
};
const DEFAULT_ROUTE = "/settings/api-keys";

const MSG_REJECTED = "Your key was rejected or revoked. Sign in again.";
const MSG_NOT_ADMIN = "This key cannot manage keys. Sign in with a key that has the admin scope.";
const MSG_SIGNED_OUT = "You have signed out. The key has been removed from this browser tab.";
const MSG_SELF_REVOKED = "You revoked the key you were signed in with. Sign in with another admin key.";
const MSG_NETWORK = "Could not reach the Keysmith server. Check your connection and try again.";

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null, // key object of the signed-in key
  workspace: null,
  keys: freshKeysState(),
  webhooks: { page: 1, total: 0, items: [], seq: 0 },
  revokeTarget: null,
  editing: null, // { id, cancel() }
};

function freshKeysState() {
  return { page: 1, search: "", includeRevoked: false, dormant: false, items: [], total: 0, seq: 0, loaded: false };
}

// ---------------------------------------------------------------------------
// DOM helpers

/** Create an element. `text` sets textContent; other attrs are set as attributes (never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function show(node, visible = true) {
  if (node) node.hidden = !visible;
}

let toastTimer = 0;
function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    t.hidden = true;
    t.textContent = "";
  }, 4000);
}

function setBusy(button, busy, busyText) {
  if (!button) return;
  if (busy) {
    button.dataset.label = button.textContent;
    button.textContent = busyText;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  } else {
    if (button.dataset.label !== undefined) button.textContent = button.dataset.label;
    delete button.dataset.label;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---------------------------------------------------------------------------
// Time formatting

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const dateFmt = new Intl.DateTimeFormat("en", { year: "numeric", month: "short", day: "numeric" });
const dateTimeFmt = new Intl.DateTimeFormat("en", {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});

function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso);
  const diff = (t - now) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return diff <= 0 ? "just now" : "in a few seconds";
  if (abs < 3600) return rtf.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), "hour");
  if (abs < 7 * 86400) return rtf.format(Math.round(diff / 86400), "day");
  if (abs < 30 * 86400) return rtf.format(Math.round(diff / (7 * 86400)), "week");
  if (abs < 365 * 86400) return rtf.format(Math.round(diff / (30.44 * 86400)), "month");
  return rtf.format(Math.round(diff / (365.25 * 86400)), "year");
}

function formatDate(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : dateFmt.format(t);
}

function formatDateTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso) : dateTimeFmt.format(t);
}

/** <time> showing a relative time, exact ISO timestamp on hover. Kept fresh by refreshRelativeTimes(). */
function relTimeEl(iso, attrs = {}) {
  return el("time", { datetime: iso, title: iso, "data-relative": "", ...attrs, text: relativeTime(iso) });
}

function refreshRelativeTimes() {
  for (const t of document.querySelectorAll("time[data-relative]")) {
    const iso = t.getAttribute("datetime");
    if (iso) t.textContent = relativeTime(iso);
  }
}

function isDormant(key, now = Date.now()) {
  if (key.revoked_at) return false;
  if (!key.last_used_at) return true;
  const t = Date.parse(key.last_used_at);
  return Number.isNaN(t) ? false : now - t >= DORMANT_DAYS * 86400 * 1000;
}

// ---------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}
class UnauthorizedError extends ApiError {}

/**
 * Call the same-origin JSON API.
 * A 401 signs the user out (unless `signOutOn401` is false, as during sign-in).
 */
async function api(method, path, { body, token = state.token, signOutOn401 = true } = {}) {
  if (!token) throw new UnauthorizedError(401, "Not signed in");
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, MSG_NETWORK);
  }
  let data = null;
  const text = await res.text().catch(() => "");
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.status === 401) {
    // Only react if this token is still the one in use (ignore stale requests).
    if (signOutOn401 && token === state.token) signOut(MSG_REJECTED, "error");
    throw new UnauthorizedError(401, (data && data.message) || "Unauthorized", data);
  }
  if (!res.ok) {
    const message = data && typeof data.message === "string" && data.message
      ? data.message
      : `Request failed (${res.status}${res.statusText ? " " + res.statusText : ""})`;
    throw new ApiError(res.status, message, data);
  }
  return data;
}

function errorMessage(err) {
  if (err instanceof ApiError) return err.message;
  console.error(err);
  return "Something went wrong. Please try again.";
}

// ---------------------------------------------------------------------------
// Session

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

function closeAllDialogs() {
  for (const d of document.querySelectorAll("dialog")) {
    if (d.id === "secret-dialog") finishSecretDialog({ runCallback: false });
    else if (d.open) d.close();
  }
}

function resetKeysUi() {
  state.keys = freshKeysState();
  state.editing = null;
  $("key-search").value = "";
  $("show-revoked").checked = false;
  $("dormant-only").checked = false;
  $("keys-tbody").replaceChildren();
  $("webhooks-list").replaceChildren();
  show($("keys-error"), false);
}

function signOut(message = MSG_SIGNED_OUT, kind = "info") {
  forgetToken();
  state.token = null;
  state.me = null;
  state.workspace = null;
  state.revokeTarget = null;
  clearTimeout(searchTimer);
  closeAllDialogs();
  resetKeysUi();
  $("workspace-name").textContent = "";
  $("signed-in-as").textContent = "";
  showSignin(message, kind);
}

/** Validate a token with whoami. Returns {ok, who} or {ok:false, message}. */
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
  state.token = token;
  state.me = who.key;
  state.workspace = who.workspace || null;
  storeToken(token);
  $("workspace-name").textContent = (who.workspace && who.workspace.name) || "—";
  $("signed-in-as").textContent = `Signed in with “${who.key.name}”`;
  $("signed-in-as").title = `Key ${who.key.id}`;
  show($("boot"), false);
  show($("signin-view"), false);
  show($("account"), true);
  show($("app-view"), true);
  if (!ROUTES[location.pathname]) history.replaceState(null, "", DEFAULT_ROUTE);
  renderRoute({ focus: true });
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

async function boot() {
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

// ---------------------------------------------------------------------------
// Routing

function navigate(path) {
  if (location.pathname !== path) history.pushState(null, "", path);
  renderRoute({ focus: true });
}

function renderRoute({ focus = false } = {}) {
  if (!state.token) return;
  let route = ROUTES[location.pathname];
  if (!route) {
    history.replaceState(null, "", DEFAULT_ROUTE);
    route = ROUTES[DEFAULT_ROUTE];
  }
  for (const [path, r] of Object.entries(ROUTES)) {
    const tab = $(r.name === "keys" ? "tab-api-keys" : "tab-webhooks");
    if (path === location.pathname) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  $("breadcrumb-current").textContent = route.title;
  document.title = `${route.title} · Settings · Keysmith`;
  show($("keys-panel"), route.name === "keys");
  show($("webhooks-panel"), route.name === "webhooks");
  if (route.name === "keys") loadKeys();
  else loadWebhooks();
  if (focus) $(route.name === "keys" ? "keys-title" : "webhooks-title").focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------
// API keys list

let searchTimer = 0;

function keysQuery() {
  const s = state.keys;
  const p = new URLSearchParams({ page: String(s.page), limit: String(PAGE_SIZE) });
  if (s.search) p.set("search", s.search);
  if (s.includeRevoked) p.set("include_revoked", "true");
  if (s.dormant) p.set("dormant", "true");
  return p.toString();
}

function setKeysLoading(loading) {
  if (loading) $("keys-panel").dataset.state = "loading";
  $("keys-table").setAttribute("aria-busy", loading ? "true" : "false");
  $("keys-card").classList.toggle("is-loading", loading);
  // Only show the big loading line when there is nothing to look at yet.
  show($("keys-loading"), loading && !state.keys.loaded);
}

async function loadKeys() {
  const s = state.keys;
  const seq = ++s.seq;
  const token = state.token;
  setKeysLoading(true);
  let res;
  try {
    res = await api("GET", `/v1/api-keys?${keysQuery()}`);
  } catch (err) {
    if (seq !== s.seq || token !== state.token || err instanceof UnauthorizedError) return;
    setKeysLoading(false);
    $("keys-panel").dataset.state = "error";
    showKeysError(errorMessage(err));
    return;
  }
  if (seq !== s.seq || token !== state.token) return;
  const items = res && Array.isArray(res.data) ? res.data : [];
  const total = res && res.meta && Number.isFinite(res.meta.total) ? res.meta.total : items.length;
  if (items.length === 0 && total > 0 && s.page > 1) {
    // We fell off the end (e.g. revoked the last key of the last page).
    s.page = Math.max(1, Math.ceil(total / PAGE_SIZE));
    loadKeys();
    return;
  }
  s.items = items;
  s.total = total;
  s.loaded = true;
  show($("keys-error"), false);
  setKeysLoading(false);
  renderKeys();
  const panel = $("keys-panel");
  // Describe what the table shows (handy for tests and debugging).
  panel.dataset.search = s.search;
  panel.dataset.page = String(s.page);
  panel.dataset.filters = [s.includeRevoked ? "revoked" : "", s.dormant ? "dormant" : ""].filter(Boolean).join(" ");
  panel.dataset.state = "ready";
}

function showKeysError(message) {
  $("keys-error-message").textContent = message;
  show($("keys-error"), true);
}

function hasFilters() {
  const s = state.keys;
  return Boolean(s.search) || s.includeRevoked || s.dormant;
}

function renderKeys() {
  const s = state.keys;
  state.editing = null;
  const tbody = $("keys-tbody");
  tbody.replaceChildren(...s.items.map(keyRow));
  const empty = s.items.length === 0;
  show($("keys-table"), !empty);
  show($("keys-empty"), empty && !hasFilters());
  show($("keys-no-results"), empty && hasFilters());
  if (empty && hasFilters()) {
    const parts = [];
    if (s.search) parts.push(`named like “${s.search}”`);
    if (s.dormant) parts.push("that are dormant");
    $("keys-no-results-text").textContent = parts.length
      ? `No keys ${parts.join(" ")}. Try another search or clear the filters.`
      : "Try another search or clear the filters.";
  }
  const pag = $("pagination");
  show(pag, !empty);
  if (!empty) {
    const start = (s.page - 1) * PAGE_SIZE + 1;
    const end = start + s.items.length - 1;
    $("pagination-summary").textContent = `${start}–${end} of ${s.total}`;
    $("prev-page").disabled = s.page <= 1;
    $("next-page").disabled = end >= s.total;
    show($("prev-page").parentElement, s.total > PAGE_SIZE || s.page > 1);
  }
}

function badge(text, kind, testid, title) {
  return el("span", { class: `badge badge-${kind}`, "data-testid": testid, title }, text);
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
  const me = state.me;
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

function keyRow(key) {
  const k = withFreshSelfUsage(key);
  const revoked = Boolean(k.revoked_at);
  const expired = !revoked && Boolean(k.is_expired);
  const dormant = isDormant(k);
  const isSelf = state.me && k.id === state.me.id;

  const nameCell = cell({ class: "cell-name", "data-label": "Name", "data-cell": "name" }, nameDisplay(k, isSelf));

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
        type: "button", class: "btn btn-ghost btn-sm btn-danger-text", "data-testid": "revoke-button", "data-action": "revoke",
        "aria-label": `Revoke ${k.name}`,
      }, "Revoke"),
    );
  }

  const tr = el("tr", {
    "data-testid": "key-row",
    "data-key-id": k.id,
    class: [revoked ? "is-revoked" : "", expired ? "is-expired" : "", isSelf ? "is-self" : ""].filter(Boolean).join(" ") || undefined,
  }, nameCell, scopeCell, createdCell, lastUsedCell, expiresCell, statusCell, actionsCell);
  return tr;
}

function nameDisplay(k, isSelf) {
  const wrap = el("div", { class: "name-wrap" },
    el("div", { class: "name-line" },
      el("span", { class: "key-name", "data-testid": "key-name" }, k.name),
      isSelf ? badge("This key", "self", "this-key-badge", "You are signed in with this key") : null),
    el("code", { class: "key-id", "data-testid": "key-id", title: "Key ID" }, k.id));
  if (k.description) wrap.append(el("p", { class: "key-desc muted", "data-testid": "key-description" }, k.description));
  return wrap;
}

function findKey(id) {
  return state.keys.items.find((k) => k.id === id) || null;
}

function onKeysTableClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const tr = button.closest("tr[data-key-id]");
  const key = tr && findKey(tr.dataset.keyId);
  if (!key) return;
  if (button.dataset.action === "rename") startRename(tr, key);
  else if (button.dataset.action === "revoke") openRevoke(key, button);
}

// ---------------------------------------------------------------------------
// Rename in place

function startRename(tr, key) {
  if (state.editing) state.editing.cancel();
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
    state.editing = null;
    nameBody.replaceChildren(nameDisplay(key, state.me && key.id === state.me.id));
    tr.classList.remove("is-editing");
    if (renameBtn) renameBtn.disabled = false;
    if (restoreFocus && renameBtn) renameBtn.focus();
  };
  state.editing = { id: key.id, cancel: () => cancel({ restoreFocus: false }) };

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
    state.editing = null;
    const merged = { ...key, ...(updated && typeof updated === "object" ? updated : { name }) };
    const idx = state.keys.items.findIndex((k) => k.id === key.id);
    if (idx >= 0) state.keys.items[idx] = merged;
    if (state.me && merged.id === state.me.id) {
      state.me = { ...state.me, name: merged.name };
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
// Dialog helpers

const returnFocus = new WeakMap();

function openDialog(dialog, opener) {
  returnFocus.set(dialog, opener || document.activeElement);
  if (!dialog.open) dialog.showModal();
}

function restoreFocusFor(dialog) {
  const target = returnFocus.get(dialog);
  returnFocus.delete(dialog);
  if (target && target.isConnected && !target.disabled && typeof target.focus === "function") {
    target.focus();
  } else if (state.token) {
    const heading = $("keys-panel").hidden ? $("webhooks-title") : $("keys-title");
    heading.focus({ preventScroll: true });
  }
}

// ---------------------------------------------------------------------------
// Create key

function openCreate(opener) {
  const form = $("create-form");
  form.reset();
  $("create-scope").value = "read";
  show($("create-error"), false);
  setBusy($("create-submit"), false);
  // Don't allow picking a time in the past (the server validates too).
  $("create-expires").min = toLocalInputValue(new Date(Date.now() + 60_000));
  openDialog($("create-dialog"), opener);
  $("create-name").focus();
}

function toLocalInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
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
  const opener = returnFocus.get($("create-dialog"));
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

function refreshAfterCreate() {
  state.keys.page = 1;
  loadKeys();
}

// ---------------------------------------------------------------------------
// One-time secret dialog

let secretCtx = null; // { onDone, allowClose }

function showSecret({ title, subject, secret, usage = false, opener, onDone }) {
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

// ---------------------------------------------------------------------------
// Revoke

function openRevoke(key, opener) {
  state.revokeTarget = key;
  const isSelf = state.me && key.id === state.me.id;
  $("revoke-message").textContent = `Revoke '${key.name}'? Requests using it will fail immediately.`;
  show($("revoke-self-warning"), Boolean(isSelf));
  show($("revoke-error"), false);
  setBusy($("revoke-confirm"), false);
  openDialog($("revoke-dialog"), opener);
  $("revoke-cancel").focus();
}

async function onRevokeConfirm() {
  const key = state.revokeTarget;
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
      loadKeys();
      return;
    }
    $("revoke-error").textContent = errorMessage(err);
    show($("revoke-error"), true);
    return;
  }
  setBusy(button, false);
  state.revokeTarget = null;
  if (state.me && key.id === state.me.id) {
    signOut(MSG_SELF_REVOKED, "info");
    return;
  }
  returnFocus.delete($("revoke-dialog"));
  $("revoke-dialog").close();
  $("keys-title").focus({ preventScroll: true });
  toast(`Revoked “${key.name}”.`);
  loadKeys();
}

// ---------------------------------------------------------------------------
// Webhooks (small and defensive: the API may not exist on this server)

function setWebhooksView(view) {
  show($("webhooks-loading"), view === "loading");
  show($("webhooks-unavailable"), view === "unavailable");
  show($("webhooks-empty"), view === "empty");
  show($("webhooks-list"), view === "list");
  show($("create-webhook-button"), view === "list" || view === "empty");
  if (view !== "list") show($("webhooks-pagination"), false);
  $("webhooks-panel").dataset.state = view;
}

async function loadWebhooks() {
  const w = state.webhooks;
  const seq = ++w.seq;
  const token = state.token;
  if (!w.items.length) setWebhooksView("loading");
  show($("webhooks-error"), false);
  let res;
  try {
    res = await api("GET", `/v1/webhooks?page=${w.page}&limit=${PAGE_SIZE}`);
  } catch (err) {
    if (seq !== w.seq || token !== state.token || err instanceof UnauthorizedError) return;
    if ([404, 405, 501].includes(err.status)) {
      w.items = [];
      setWebhooksView("unavailable");
      return;
    }
    setWebhooksView(w.items.length ? "list" : "error");
    $("webhooks-error-message").textContent = errorMessage(err);
    show($("webhooks-error"), true);
    return;
  }
  if (seq !== w.seq || token !== state.token) return;
  if (!res || !Array.isArray(res.data)) {
    w.items = [];
    setWebhooksView("unavailable");
    return;
  }
  w.items = res.data;
  w.total = res.meta && Number.isFinite(res.meta.total) ? res.meta.total : res.data.length;
  if (!w.items.length && w.page > 1) {
    w.page = 1;
    loadWebhooks();
    return;
  }
  renderWebhooks();
}

function renderWebhooks() {
  const w = state.webhooks;
  const list = $("webhooks-list");
  list.replaceChildren(...w.items.map(webhookItem));
  if (!w.items.length) {
    setWebhooksView("empty");
    return;
  }
  setWebhooksView("list");
  const start = (w.page - 1) * PAGE_SIZE + 1;
  const end = start + w.items.length - 1;
  show($("webhooks-pagination"), w.total > PAGE_SIZE || w.page > 1);
  $("webhooks-pagination-summary").textContent = `${start}–${end} of ${w.total}`;
  $("webhooks-prev").disabled = w.page <= 1;
  $("webhooks-next").disabled = end >= w.total;
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
      loadWebhooks();
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

function openWebhookCreate(opener) {
  $("webhook-form").reset();
  show($("webhook-form-error"), false);
  setBusy($("webhook-submit"), false);
  openDialog($("webhook-dialog"), opener);
  $("webhook-url").focus();
}

async function onWebhookSubmit(event) {
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
  const opener = returnFocus.get($("webhook-dialog"));
  $("webhook-dialog").close();
  if (created && typeof created.secret === "string" && created.secret) {
    showSecret({
      title: "Webhook signing secret",
      subject: `Endpoint ${created.url || url}. Use this secret to verify the signature of each delivery.`,
      secret: created.secret,
      usage: false,
      opener,
      onDone: () => loadWebhooks(),
    });
    created.secret = undefined;
  } else {
    toast("Endpoint added.");
    loadWebhooks();
  }
}

// ---------------------------------------------------------------------------
// Wiring

function wire() {
  $("signin-form").addEventListener("submit", onSigninSubmit);
  $("signout-button").addEventListener("click", () => signOut(MSG_SIGNED_OUT, "info"));

  // Client-side routing between the settings tabs.
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-route]");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    if (!state.token) return;
    navigate(a.dataset.route);
  });
  window.addEventListener("popstate", () => renderRoute());

  // Keys toolbar.
  $("key-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(applySearch, SEARCH_DEBOUNCE_MS);
  });
  $("key-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      clearTimeout(searchTimer);
      applySearch();
    }
  });
  $("show-revoked").addEventListener("change", (e) => {
    state.keys.includeRevoked = e.target.checked;
    state.keys.page = 1;
    loadKeys();
  });
  $("dormant-only").addEventListener("change", (e) => {
    state.keys.dormant = e.target.checked;
    state.keys.page = 1;
    loadKeys();
  });
  $("refresh-button").addEventListener("click", () => loadKeys());
  $("keys-error-retry").addEventListener("click", () => loadKeys());
  $("clear-filters").addEventListener("click", () => {
    $("key-search").value = "";
    $("show-revoked").checked = false;
    $("dormant-only").checked = false;
    Object.assign(state.keys, { search: "", includeRevoked: false, dormant: false, page: 1 });
    loadKeys();
    $("key-search").focus();
  });
  $("prev-page").addEventListener("click", () => {
    if (state.keys.page > 1) {
      state.keys.page -= 1;
      loadKeys();
    }
  });
  $("next-page").addEventListener("click", () => {
    state.keys.page += 1;
    loadKeys();
  });
  $("keys-tbody").addEventListener("click", onKeysTableClick);

  // Create.
  $("create-key-button").addEventListener("click", (e) => openCreate(e.currentTarget));
  $("empty-create-button").addEventListener("click", () => openCreate($("create-key-button")));
  $("create-form").addEventListener("submit", onCreateSubmit);
  $("create-cancel").addEventListener("click", () => $("create-dialog").close());
  $("create-dialog").addEventListener("close", () => restoreFocusFor($("create-dialog")));

  // Secret: only the explicit button closes it.
  const secret = $("secret-dialog");
  secret.addEventListener("cancel", (e) => e.preventDefault());
  secret.addEventListener("close", () => {
    if (secretCtx && !secretCtx.allowClose) secret.showModal(); // closed some other way: put it back
  });
  $("secret-copy").addEventListener("click", copySecret);
  $("secret-value").addEventListener("click", selectSecretText);
  $("secret-done").addEventListener("click", () => finishSecretDialog());

  // Revoke.
  $("revoke-confirm").addEventListener("click", onRevokeConfirm);
  $("revoke-cancel").addEventListener("click", () => $("revoke-dialog").close());
  $("revoke-dialog").addEventListener("close", () => {
    state.revokeTarget = null;
    restoreFocusFor($("revoke-dialog"));
  });

  // Webhooks.
  $("create-webhook-button").addEventListener("click", (e) => openWebhookCreate(e.currentTarget));
  $("empty-create-webhook-button").addEventListener("click", () => openWebhookCreate($("create-webhook-button")));
  $("webhook-form").addEventListener("submit", onWebhookSubmit);
  $("webhook-cancel").addEventListener("click", () => $("webhook-dialog").close());
  $("webhook-dialog").addEventListener("close", () => restoreFocusFor($("webhook-dialog")));
  $("webhooks-error-retry").addEventListener("click", () => loadWebhooks());
  $("webhooks-prev").addEventListener("click", () => {
    if (state.webhooks.page > 1) {
      state.webhooks.page -= 1;
      loadWebhooks();
    }
  });
  $("webhooks-next").addEventListener("click", () => {
    state.webhooks.page += 1;
    loadWebhooks();
  });

  setInterval(refreshRelativeTimes, 30_000);
}

function applySearch() {
  const value = $("key-search").value.trim();
  if (value === state.keys.search) return;
  state.keys.search = value;
  state.keys.page = 1;
  loadKeys();
}

wire();
boot();
