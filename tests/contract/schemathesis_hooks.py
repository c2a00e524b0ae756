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

4. Nor lock itself out: a PATCH of that key's `permissions`, `rate_limit`, `allowed_ips` or `enabled`
   (which could leave it no permissions, one request a day, an address it is not at, or disabled) is sent
   for the absent id too, and so is a roll of it (which gives it an expiry, or revokes it). Renames of
   it, and every change of other keys, go through.

5. Limits no schema can say, in positive cases: `metadata` of more than 4096 bytes of compact JSON or
   nested more than 8 levels is replaced by a small object; a usage query whose `from` is not before
   its `to`, or whose span has more than 2000 buckets, loses its `to`. Negative cases are sent as
   generated.
"""

import json
import os
import re
from datetime import datetime, timedelta, timezone

import schemathesis

ADMIN_KEY_ID = os.environ["KEYSMITH_FUZZ_ADMIN_KEY_ID"]
ABSENT_KEY_ID = "zzzzzzzzzzzzzz"
LOCKOUT_FIELDS = {"permissions", "rate_limit", "allowed_ips", "enabled"}

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


def _depth(value):
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _fit_metadata(body):
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        compact = json.dumps(body["metadata"], separators=(",", ":"), ensure_ascii=False).encode()
        if len(compact) > 4096 or _depth(body["metadata"]) > 8:
            body["metadata"] = {"customer": "acme"}


def _moment(value):
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


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
    if positive and isinstance(case.body, dict):
        _fit_metadata(case.body)
        for item in case.body.get("keys", []) if isinstance(case.body.get("keys"), list) else []:
            _fit_metadata(item)
    if positive and case.operation.path == "/v1/api-keys/{id}/usage" and isinstance(case.query, dict) and "to" in case.query:
        start, end = _moment(case.query.get("from")), _moment(case.query.get("to"))
        hours = case.query.get("granularity") == "hour"
        if start and end and (start >= end or (end - start) / timedelta(hours=1 if hours else 24) > 1999):
            del case.query["to"]
    if (case.method.upper() == "POST" and case.operation.path == "/v1/api-keys/{id}/roll"
            and (case.path_parameters or {}).get("id") == ADMIN_KEY_ID):
        case.path_parameters["id"] = ABSENT_KEY_ID
    if (case.method.upper() == "DELETE" and case.operation.path == "/v1/api-keys/{id}"
            and (case.path_parameters or {}).get("id") == ADMIN_KEY_ID):
        case.path_parameters["id"] = ABSENT_KEY_ID
    if (case.method.upper() == "PATCH" and case.operation.path == "/v1/api-keys/{id}"
            and (case.path_parameters or {}).get("id") == ADMIN_KEY_ID
            and isinstance(case.body, dict) and LOCKOUT_FIELDS & set(case.body)):
        case.path_parameters["id"] = ABSENT_KEY_ID
