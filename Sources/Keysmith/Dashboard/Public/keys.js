// Settings › API Keys: the list with its search, filters and pagination.
// The row buttons, create, rename and revoke live in key-actions.js.

import { $, show } from "./dom.js";
import { pagedList } from "./pager.js";
import { keyRow } from "./key-row.js";

const SEARCH_DEBOUNCE_MS = 250;

const filters = { search: "", includeRevoked: false, dormant: false };
let searchTimer = 0;

export const keys = pagedList({
  path: "/v1/api-keys",
  params: () => ({
    ...(filters.search && { search: filters.search }),
    ...(filters.includeRevoked && { include_revoked: "true" }),
    ...(filters.dormant && { dormant: "true" }),
  }),
  controls: { summary: $("pagination-summary"), prev: $("prev-page"), next: $("next-page") },
  onLoading: () => setLoading(true),
  onError: (message) => {
    setLoading(false);
    $("keys-panel").dataset.state = "error";
    $("keys-error-message").textContent = message;
    show($("keys-error"), true);
  },
  onLoaded: () => {
    show($("keys-error"), false);
    setLoading(false);
    render();
    const panel = $("keys-panel");
    // Describe what the table shows (handy for tests and debugging).
    panel.dataset.search = filters.search;
    panel.dataset.page = String(keys.page);
    panel.dataset.filters = [filters.includeRevoked ? "revoked" : "", filters.dormant ? "dormant" : ""].filter(Boolean).join(" ");
    panel.dataset.state = "ready";
  },
});

function setLoading(loading) {
  if (loading) $("keys-panel").dataset.state = "loading";
  $("keys-table").setAttribute("aria-busy", loading ? "true" : "false");
  $("keys-card").classList.toggle("is-loading", loading);
  // Only show the big loading line when there is nothing to look at yet.
  show($("keys-loading"), loading && !keys.loaded);
}

function hasFilters() {
  return Boolean(filters.search) || filters.includeRevoked || filters.dormant;
}

function render() {
  $("keys-tbody").replaceChildren(...keys.items.map(keyRow));
  const empty = keys.items.length === 0;
  show($("keys-table"), !empty);
  show($("keys-empty"), empty && !hasFilters());
  show($("keys-no-results"), empty && hasFilters());
  if (empty && hasFilters()) {
    const parts = [];
    if (filters.search) parts.push(`named like “${filters.search}”`);
    if (filters.dormant) parts.push("that are dormant");
    $("keys-no-results-text").textContent = parts.length
      ? `No keys ${parts.join(" ")}. Try another search or clear the filters.`
      : "Try another search or clear the filters.";
  }
  // Unlike the webhooks list, the summary shows even for a single page; only the buttons hide.
  show($("pagination"), !empty);
  if (!empty) keys.renderControls();
}

/** Back to page 1 with the given filter changes, and load. */
function refilter(changes) {
  Object.assign(filters, changes);
  keys.page = 1;
  keys.load();
}

function applySearch() {
  const value = $("key-search").value.trim();
  if (value === filters.search) return;
  refilter({ search: value });
}

/** Sign-out: no filters, no rows, nothing pending. */
export function resetKeys() {
  clearTimeout(searchTimer);
  keys.reset();
  Object.assign(filters, { search: "", includeRevoked: false, dormant: false });
  $("key-search").value = "";
  $("show-revoked").checked = false;
  $("dormant-only").checked = false;
  $("keys-tbody").replaceChildren();
  show($("keys-error"), false);
}

export function wireKeys() {
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
  $("show-revoked").addEventListener("change", (e) => refilter({ includeRevoked: e.target.checked }));
  $("dormant-only").addEventListener("change", (e) => refilter({ dormant: e.target.checked }));
  $("refresh-button").addEventListener("click", () => keys.load());
  $("keys-error-retry").addEventListener("click", () => keys.load());
  $("clear-filters").addEventListener("click", () => {
    $("key-search").value = "";
    $("show-revoked").checked = false;
    $("dormant-only").checked = false;
    refilter({ search: "", includeRevoked: false, dormant: false });
    $("key-search").focus();
  });
}
