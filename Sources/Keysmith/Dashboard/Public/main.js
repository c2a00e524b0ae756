// Keysmith dashboard: Settings › API Keys and Settings › Webhooks.
// Entry point (loaded by index.html as a module): client-side routing between the two
// tabs, and the wiring of every part. Plain ES modules, no dependencies, no build step.

import { session } from "./api.js";
import { closeAllDialogs, wireSecretDialog } from "./dialogs.js";
import { $, show } from "./dom.js";
import { refreshRelativeTimes } from "./format.js";
import { wireKeyActions } from "./key-actions.js";
import { keys, resetKeys, wireKeys } from "./keys.js";
import { boot, configureSession, MSG_SELF_REVOKED, signOut, wireSession } from "./session.js";
import { resetWebhooks, webhooks, wireWebhooks } from "./webhooks.js";

const ROUTES = {
  "/settings/api-keys": { name: "keys", title: "API Keys", tab: "tab-api-keys", heading: "keys-title", list: keys },
  "/settings/webhooks": { name: "webhooks", title: "Webhooks", tab: "tab-webhooks", heading: "webhooks-title", list: webhooks },
};
const DEFAULT_ROUTE = "/settings/api-keys";

function navigate(path) {
  if (location.pathname !== path) history.pushState(null, "", path);
  renderRoute({ focus: true });
}

function renderRoute({ focus = false } = {}) {
  if (!session.token) return;
  let route = ROUTES[location.pathname];
  if (!route) {
    history.replaceState(null, "", DEFAULT_ROUTE);
    route = ROUTES[DEFAULT_ROUTE];
  }
  for (const r of Object.values(ROUTES)) {
    if (r === route) $(r.tab).setAttribute("aria-current", "page");
    else $(r.tab).removeAttribute("aria-current");
  }
  $("breadcrumb-current").textContent = route.title;
  document.title = `${route.title} · Settings · Keysmith`;
  show($("keys-panel"), route.name === "keys");
  show($("webhooks-panel"), route.name === "webhooks");
  route.list.load();
  if (focus) $(route.heading).focus({ preventScroll: true });
}

configureSession({
  entered: () => {
    if (!ROUTES[location.pathname]) history.replaceState(null, "", DEFAULT_ROUTE);
    renderRoute({ focus: true });
  },
  left: () => {
    closeAllDialogs();
    resetKeys();
    resetWebhooks();
  },
});

wireSession();
wireKeys();
wireKeyActions({ keys, selfRevoked: () => signOut(MSG_SELF_REVOKED, "info") });
wireWebhooks();
wireSecretDialog();

// Client-side routing between the settings tabs.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-route]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  if (!session.token) return;
  navigate(a.dataset.route);
});
window.addEventListener("popstate", () => renderRoute());

setInterval(refreshRelativeTimes, 30_000);

boot();
