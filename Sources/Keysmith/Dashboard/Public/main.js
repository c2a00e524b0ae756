// Keysmith dashboard: Settings › API Keys, Settings › Webhooks and Settings › Audit log.
// Entry point (loaded by index.html as a module): client-side routing between the
// tabs, and the wiring of every part. Plain ES modules, no dependencies, no build step.

import { session } from "./api.js";
import { audit, resetAudit, wireAudit } from "./audit.js";
import { closeAllDialogs, wireSecretDialog } from "./dialogs.js";
import { $, show } from "./dom.js";
import { refreshRelativeTimes } from "./format.js";
import { wireKeyActions } from "./key-actions.js";
import { wireKeyDetail } from "./key-detail.js";
import { keys, resetKeys, wireKeys } from "./keys.js";
import { boot, configureSession, MSG_SELF_DISABLED, MSG_SELF_REVOKED, MSG_SELF_ROLLED, signOut, wireSession } from "./session.js";
import { resetWebhooks, webhooks, wireWebhooks } from "./webhooks.js";

const ROUTES = {
  "/settings/api-keys": { name: "keys", title: "API Keys", tab: "tab-api-keys", heading: "keys-title", list: keys },
  "/settings/webhooks": { name: "webhooks", title: "Webhooks", tab: "tab-webhooks", heading: "webhooks-title", list: webhooks },
  "/settings/audit-log": { name: "audit", title: "Audit log", tab: "tab-audit", heading: "audit-title", list: audit },
};
// Why the key this page is signed in with stopped working, as the sign-in form says it.
const SELF_ENDED = { revoked: MSG_SELF_REVOKED, disabled: MSG_SELF_DISABLED, rolled: MSG_SELF_ROLLED };
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
  for (const r of Object.values(ROUTES)) show($(`${r.name}-panel`), r === route);
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
    resetAudit();
  },
});

wireSession();
wireKeys();
wireKeyActions({ keys, selfEnded: (reason) => signOut(SELF_ENDED[reason] || MSG_SELF_REVOKED, "info") });
wireKeyDetail();
wireWebhooks();
wireAudit();
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
