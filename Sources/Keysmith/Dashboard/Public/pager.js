// One paginated loader for every list on the page (API keys, webhooks): it fetches
// `?page=&limit=`, drops answers that arrive late or for another session, steps back
// when the current page has emptied, and drives the Previous / Next controls.
// What a loading, failed or loaded list looks like is left to the caller.

import { api, errorMessage, session, UnauthorizedError } from "./api.js";

export const PAGE_SIZE = 20;

/**
 * @param path      the collection, e.g. "/v1/api-keys"
 * @param params    () => extra query parameters (search, filters)
 * @param controls  { summary, prev, next } elements of the pagination bar
 * @param onLoading / onError(message) / onLoaded  what the list shows at each step
 */
export function pagedList({ path, params = () => ({}), controls, onLoading, onError, onLoaded }) {
  const list = { page: 1, total: 0, items: [], loaded: false, seq: 0, load, reset, renderControls };

  async function load() {
    const seq = ++list.seq;
    const token = session.token;
    onLoading();
    const query = new URLSearchParams({ page: String(list.page), limit: String(PAGE_SIZE), ...params() });
    let res;
    try {
      res = await api("GET", `${path}?${query}`);
    } catch (err) {
      // A 401 has already signed the user out; a superseded request has nothing to say.
      if (seq !== list.seq || token !== session.token || err instanceof UnauthorizedError) return;
      onError(errorMessage(err));
      return;
    }
    if (seq !== list.seq || token !== session.token) return;
    const items = res && Array.isArray(res.data) ? res.data : [];
    const total = res && res.meta && Number.isFinite(res.meta.total) ? res.meta.total : items.length;
    if (items.length === 0 && list.page > 1) {
      // We fell off the end (e.g. revoked the last item of the last page): show the last page there is.
      const last = Math.max(1, Math.ceil(total / PAGE_SIZE));
      if (last < list.page) {
        list.page = last;
        load();
        return;
      }
    }
    list.items = items;
    list.total = total;
    list.loaded = true;
    onLoaded();
  }

  /** Forget everything (sign-out); a request still in flight is ignored when it lands. */
  function reset() {
    Object.assign(list, { page: 1, total: 0, items: [], loaded: false });
    list.seq += 1;
  }

  /** "1–20 of 45" and the buttons' state. Returns whether there is more than one page. */
  function renderControls() {
    const start = (list.page - 1) * PAGE_SIZE + 1;
    const end = start + list.items.length - 1;
    const multiPage = list.total > PAGE_SIZE || list.page > 1;
    controls.summary.textContent = `${start}–${end} of ${list.total}`;
    controls.prev.disabled = list.page <= 1;
    controls.next.disabled = end >= list.total;
    controls.prev.parentElement.hidden = !multiPage;
    return multiPage;
  }

  controls.prev.addEventListener("click", () => {
    if (list.page > 1) {
      list.page -= 1;
      load();
    }
  });
  controls.next.addEventListener("click", () => {
    list.page += 1;
    load();
  });

  return list;
}
