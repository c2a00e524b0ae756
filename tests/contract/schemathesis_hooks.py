"""Schemathesis hooks for the contract run (loaded through SCHEMATHESIS_HOOKS by fuzz_in_sandbox.py).

Four, each as small as possible:

1. Webhook URLs point at `example.com`: in a positive case, the host (with any port) of `url` is replaced
   by `example.com` before it is sent; scheme, path and query stay as generated. Inside the sandbox (a
   network namespace with nothing but loopback), `example.com` resolves through a private /etc/hosts to
   a public address bound to the namespace's loopback, so registration succeeds and deliveries reach
   nothing: no packet leaves the machine. Every other name fails to resolve there, so the server
   refuses it (400) as it must, and negative cases are sent as generated.

2. `expires_at` must be in the future, which no schema can say: a positive case (a single create, or an
   item of a batch create) whose `expires_at` (or `expiresAt`) has passed is moved to the year 2096 (a leap year, so 29 February stays valid) before
   it is sent. Negative cases are sent as generated.

3. The run must not revoke the key it authenticates with: DELETE of that one id is sent for an id that
   does not exist instead (404, as documented). Every other DELETE, including of admin keys that the run
   created, goes through.

4. Nor lock itself out: a PATCH of that key's `permissions`, `rate_limit` or `allowed_ips` (which could
   leave it no permissions, one request a day, or an address it is not at) is sent for the absent id too.
   Renames of it, and every change of other keys, go through.
"""

import os
import re
from datetime import datetime, timedelta, timezone

import schemathesis

ADMIN_KEY_ID = os.environ["KEYSMITH_FUZZ_ADMIN_KEY_ID"]
ABSENT_KEY_ID = "zzzzzzzzzzzzzz"
LOCKOUT_FIELDS = {"permissions", "rate_limit", "allowed_ips"}

MAX_URL_BYTES = 2048
AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*")


def _sandbox_url(url):
    if not isinstance(url, str) or not AUTHORITY.match(url):
        return url
    url = AUTHORITY.sub(lambda m: m.group(1) + "example.com", url, count=1)
    while len(url.encode()) > MAX_URL_BYTES:  # the longer host must not push a boundary case over the limit
        url = url[:-1]
        url = re.sub(r"%[0-9A-Fa-f]?$", "", url)
    return url


def _future(value):
    """The same date-time in 2096 when it has passed (or is within a day of now); else unchanged."""
    if not isinstance(value, str) or len(value) < 4 or not value[:4].isdigit():
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    if moment > datetime.now(timezone.utc) + timedelta(days=1):
        return value
    return "2096" + value[4:]


@schemathesis.hook
def before_call(context, case, kwargs):
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.operation.path.startswith("/v1/webhooks") and isinstance(case.body, dict) and "url" in case.body:
        case.body["url"] = _sandbox_url(case.body["url"])
    if case.method.upper() == "POST" and positive and isinstance(case.body, dict):
        # A single create's body, or each item of a batch create.
        items = []
        if case.operation.path == "/v1/api-keys":
            items = [case.body]
        elif case.operation.path == "/v1/api-keys/batch" and isinstance(case.body.get("keys"), list):
            items = [item for item in case.body["keys"] if isinstance(item, dict)]
        for item in items:
            for field in ("expires_at", "expiresAt"):
                if field in item:
                    item[field] = _future(item[field])
    if (case.method.upper() == "DELETE" and case.operation.path == "/v1/api-keys/{id}"
            and (case.path_parameters or {}).get("id") == ADMIN_KEY_ID):
        case.path_parameters["id"] = ABSENT_KEY_ID
    if (case.method.upper() == "PATCH" and case.operation.path == "/v1/api-keys/{id}"
            and (case.path_parameters or {}).get("id") == ADMIN_KEY_ID
            and isinstance(case.body, dict) and LOCKOUT_FIELDS & set(case.body)):
        case.path_parameters["id"] = ABSENT_KEY_ID
