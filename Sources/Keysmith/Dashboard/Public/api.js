// The API client: same-origin JSON over fetch, the signed-in key sent as a bearer token.
// The session lives here because every request needs its token; the admin key itself is
// kept in sessionStorage by session.js, never here beyond the page's lifetime.

export const MSG_NETWORK = "Could not reach the Keysmith server. Check your connection and try again.";

/** The signed-in key: its token, its key object from whoami (`me`) and its workspace. */
export const session = { token: null, me: null, workspace: null };

// What a rejected key means (signing out) is the session's business, not the client's:
// session.js registers it, so this module imports nothing.
let onRejected = () => {};
export function whenRejected(handler) {
  onRejected = handler;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}
export class UnauthorizedError extends ApiError {}

/**
 * Call the same-origin JSON API.
 * A 401 signs the user out (unless `signOutOn401` is false, as during sign-in).
 */
export async function api(method, path, { body, token = session.token, signOutOn401 = true } = {}) {
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
    if (signOutOn401 && token === session.token) onRejected();
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

/** The text to show for a failed call: the server's own message, or a generic one for a bug. */
export function errorMessage(err) {
  if (err instanceof ApiError) return err.message;
  console.error(err);
  return "Something went wrong. Please try again.";
}
