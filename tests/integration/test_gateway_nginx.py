"""Keysmith as the gatekeeper of an API behind a real nginx, with the shipped deploy/nginx/keysmith.conf.

Three real processes on loopback: `keysmith serve` (SQLite, `--trusted-proxy 127.0.0.1/32`, and the shipped route
rules, deploy/route-rules.json, which decide the permissions a route needs), nginx (in the
foreground, as the current user, everything in the test's folder) with the shipped configuration templated
with the other two addresses, and an upstream API (a Python http.server thread that records every request's
headers). Requests go to nginx only, as a client of the protected API would send them (seed 001's
`curl /v1/agents2 -H "Authorization: Bearer KEY"`).

The tests are skipped, with the reason, only when nginx cannot be installed or has no auth_request module.
Tests that need the store to persist a key's `permissions`, `allowed_ips` or `rate_limit` (or the rate
limiter) say so, and are skipped with that reason until it does.
"""

import http.client
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from keysmith_harness import (
    REPO,
    UNAUTHORIZED,
    KeysmithServer,
    NginxServer,
    free_port,
    nginx_binary,
    nginx_lacks_auth_request,
    templated_nginx_conf,
)

UNAUTHORIZED_BODY = b'{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}'
ROUTE_RULES = REPO / "deploy" / "route-rules.json"
# One route, spelled as a client may spell it to slip past a gateway's own path matching; Keysmith's rules
# for /v1/calls/** (case-insensitive) must hold for every one, whatever the gateway makes of it.
CALLS_SPELLINGS = ("/v1/calls", "/v1/calls/", "/v1//calls/1", "/v1/x/../calls/1", "/v1/%63alls/1", "/V1/CALLS/1",
                   "/v1/calls.json", "/V1/Calls.JSON/1")


class RecordingUpstream:
    """The protected API: answers every request 200 with a small JSON body and remembers what it received."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with upstream.lock:
                    upstream.requests.append({"method": self.command, "path": self.path,
                                              "headers": [(k.lower(), v) for k, v in self.headers.items()], "body": body})
                payload = json.dumps({"upstream": "ok", "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_one

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def last(self, path: str) -> dict:
        matching = [r for r in self.received() if r["path"] == path]
        assert matching, f"the upstream received no request for {path}; it received {[r['path'] for r in self.received()]}"
        return matching[-1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class GatewayKeysmith(KeysmithServer):
    def __init__(self, binary: str, tmp: Path, log_dir: Path):
        super().__init__(binary, str(tmp / "keysmith.sqlite"), "gateway-keysmith", log_dir)
        self.key_file = tmp / "encryption.key"

    @property
    def command(self) -> list[str]:
        return super().command + ["--encryption-key-file", str(self.key_file), "--trusted-proxy", "127.0.0.1/32",
                                  "--route-rules", str(ROUTE_RULES)]

    def start_for_gateway(self) -> str:
        """Starts the server and returns the admin key of its first start's banner."""
        self.start()
        self.wait_healthy()
        admin = self.admin_token()
        assert admin, f"no admin key in keysmith's banner:\n{self.stdout()[-2000:]}"
        return admin


class Gateway:
    def __init__(self, keysmith: GatewayKeysmith, nginx: NginxServer, upstream: RecordingUpstream, admin: str):
        self.keysmith, self.nginx, self.upstream, self.admin = keysmith, nginx, upstream, admin
        self.session = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, headers: dict | None = None, **kwargs) -> requests.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.nginx.base + path, headers=headers, timeout=10, **kwargs)

    def raw(self, method: str, target: str, token: str) -> tuple[int, dict | None]:
        """A request whose target goes out byte for byte as written (requests would resolve `..` itself):
        the status, and the JSON body when there is one."""
        connection = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=10)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            connection.putheader("Authorization", f"Bearer {token}")
            connection.putheader("Content-Length", "0")
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise AssertionError(f"{method} {target}: {error!r}{self.describe()}") from None
        finally:
            connection.close()
        try:
            return response.status, json.loads(body) if body else None
        except ValueError:
            return response.status, {"raw": body[:300].decode(errors="replace")}

    def create_key(self, **fields) -> dict:
        """A key created through nginx, which hands /v1/api-keys to Keysmith itself."""
        response = self.call("POST", "/v1/api-keys", self.admin, json={"name": "gateway test", **fields})
        assert response.status_code == 201, f"create through nginx: {response.status_code} {response.text[:300]}"
        return response.json()

    def describe(self) -> str:
        return f"\n{self.nginx.log_tail()}\n--- keysmith stderr\n{self.keysmith.stderr()[-3000:]}"


@pytest.fixture(scope="module")
def gateway(keysmith_bin, tmp_path_factory):
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed and scripts/setup.sh could not install it (needs root or sudo and apt-get)")
    if nginx_lacks_auth_request(binary):
        pytest.skip(f"{binary} was built without ngx_http_auth_request_module")
    tmp = tmp_path_factory.mktemp("gateway")
    upstream = RecordingUpstream()
    keysmith = GatewayKeysmith(keysmith_bin, tmp, tmp)
    nginx = None
    try:
        admin = keysmith.start_for_gateway()
        for attempt in range(5):  # nginx cannot bind port 0; a port taken meanwhile is tried again
            port = free_port()
            nginx = NginxServer(binary, tmp / f"nginx-{attempt}", templated_nginx_conf(keysmith.port, upstream.port, port), port)
            try:
                nginx.start()
                break
            except AssertionError:
                if "Address already in use" not in nginx.log_tail() or attempt == 4:
                    raise
                nginx.stop()
        yield Gateway(keysmith, nginx, upstream, admin)
    finally:
        if nginx is not None:
            nginx.stop()
        keysmith.stop()
        upstream.stop()


def persisted(gateway: Gateway, key: dict, field: str) -> bool:
    """Whether the store kept `field` of a key just created (GET reads it back from the database)."""
    shown = gateway.call("GET", f"/v1/api-keys/{key['id']}", gateway.admin).json()
    return shown.get(field) == key.get(field)


def require_persisted(gateway: Gateway, key: dict, field: str) -> None:
    if not persisted(gateway, key, field):
        pytest.skip(f"waits for the store to persist `{field}` (GET /v1/api-keys/{{id}} does not return it yet)")


def expires_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def bad_credentials(gateway: Gateway) -> dict[str, str | None]:
    """Every kind of bad credential, by name: none, made up, a wrong secret, a key revoked after it was used
    through the gateway (refused on its next request), and one that expired after it was used."""
    revoked = gateway.create_key()
    expiring = gateway.create_key(expires_at=expires_in(2))
    assert gateway.call("GET", "/v1/before", revoked["secret"]).status_code == 200
    assert gateway.call("GET", "/v1/before", expiring["secret"]).status_code == 200
    deleted = gateway.call("DELETE", f"/v1/api-keys/{revoked['id']}", gateway.admin)
    assert deleted.status_code == 200, deleted.text
    time.sleep(2.2)
    key_id, secret = gateway.admin.split(":", 1)
    wrong_secret = secret[:-10] + ("A" if secret[-10] != "A" else "B") + secret[-9:]  # a wrong checksum too
    return {
        "no header": None,
        "wrong key (made up)": "abcdefghijklmn:123456a1b1234b",
        "wrong secret": f"{key_id}:{wrong_secret}",
        "revoked key, on its next request": revoked["secret"],
        "expired key": expiring["secret"],
    }


# --------------------------------------------------------------------------------------------- the tests


def test_config_passes_nginx_t(gateway):
    gateway.nginx.check_config()


def test_seed_001_request_reaches_the_upstream_with_the_identity_and_without_the_secret(gateway):
    key = gateway.create_key(scope="read-write", service_account_id="svc-agents")
    secret = key["secret"].split(":", 1)[1]
    # A client that tries to pose as another key with its own headers is overruled.
    response = gateway.call("GET", "/v1/agents2", key["secret"],
                            headers={"X-Keysmith-Key-Id": "forgedforgedxx", "X-Keysmith-Scope": "admin"})
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}{gateway.describe()}"
    assert response.json() == {"upstream": "ok", "path": "/v1/agents2"}
    got = dict(gateway.upstream.last("/v1/agents2")["headers"])
    assert got.get("x-keysmith-key-id") == key["id"]
    assert got.get("x-keysmith-workspace-id") == key["workspace_id"]
    assert got.get("x-keysmith-scope") == "read-write"
    assert got.get("x-keysmith-service-account-id") == "svc-agents"
    assert got.get("x-keysmith-permissions") == "*"
    assert "authorization" not in got, "the upstream must not see the client's Authorization header"
    headers = gateway.upstream.last("/v1/agents2")["headers"]
    assert [name for name, _ in headers].count("x-keysmith-key-id") == 1
    assert all(secret not in value for _, value in headers), "the secret must not reach the upstream"
    # A request with a body goes through with it; the check itself carries no body.
    posted = gateway.call("POST", "/v1/agents2", key["secret"], json={"name": "agent"})
    assert posted.status_code == 200, posted.text
    assert json.loads(gateway.upstream.last("/v1/agents2")["body"]) == {"name": "agent"}
    # Keysmith saw the use, from the client's address (nginx's X-Forwarded-For, trusted).
    me = gateway.call("GET", "/v1/auth/whoami", key["secret"]).json()
    assert me["key"]["last_used_ip"] == "127.0.0.1"
    # A key without a service account: that header is absent upstream, not empty.
    plain = gateway.create_key()
    assert gateway.call("GET", "/v1/plain", plain["secret"]).status_code == 200
    assert "x-keysmith-service-account-id" not in dict(gateway.upstream.last("/v1/plain")["headers"])


def test_every_bad_credential_gets_the_seed_401_body_from_nginx(gateway):
    cases = bad_credentials(gateway)
    before = len(gateway.upstream.received())
    for case, token in cases.items():
        for method in ("GET", "POST"):
            response = gateway.call(method, "/v1/agents2", token)
            assert response.status_code == 401, f"{case}: {response.status_code} {response.text[:200]}{gateway.describe()}"
            assert response.content == UNAUTHORIZED_BODY, f"{case}: {response.content!r}"
            assert response.json() == UNAUTHORIZED
            assert response.headers.get("WWW-Authenticate") == "Bearer", case
            assert response.headers.get("Content-Type", "").startswith("application/json"), case
    assert len(gateway.upstream.received()) == before, "no refused request may reach the upstream"


def test_a_read_key_may_read_but_its_post_is_403(gateway):
    reader = gateway.create_key(scope="read")
    assert gateway.call("GET", "/v1/agents2", reader["secret"]).status_code == 200
    assert gateway.call("HEAD", "/v1/agents2", reader["secret"]).status_code == 200
    before = len(gateway.upstream.received())
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = gateway.call(method, "/v1/agents2", reader["secret"], json={"x": 1})
        assert response.status_code == 403, f"{method}: {response.status_code} {response.text[:200]}{gateway.describe()}"
        body = response.json()
        assert set(body) == {"statusCode", "message", "error"} and body["statusCode"] == 403 and body["error"] == "Forbidden"
        assert "scope 'read'" in body["message"] and method in body["message"]
    # A client naming its own method to the check is overruled by nginx's X-Original-Method.
    forged = gateway.call("POST", "/v1/agents2", reader["secret"], json={"x": 1},
                          headers={"X-Forwarded-Method": "GET", "X-Original-Method": "GET"})
    assert forged.status_code == 403, f"{forged.status_code} {forged.text[:200]}{gateway.describe()}"
    assert len(gateway.upstream.received()) == before, "no refused request may reach the upstream"


def test_a_route_that_needs_a_permission_refuses_keys_without_it(gateway):
    """The permission comes from Keysmith's route rules (deploy/route-rules.json), not from nginx's config."""
    agents = gateway.create_key(permissions=["agents.*"])
    require_persisted(gateway, agents, "permissions")
    calls = gateway.create_key(permissions=["calls.*"])
    refused = gateway.call("GET", "/v1/calls/42", agents["secret"])
    assert refused.status_code == 403, f"{refused.status_code} {refused.text[:200]}"
    assert "calls.read" in refused.json()["message"]
    assert gateway.call("GET", "/v1/agents2", agents["secret"]).status_code == 200, "the route without a requirement"
    allowed = gateway.call("GET", "/v1/calls/42", calls["secret"])
    assert allowed.status_code == 200, allowed.text
    assert dict(gateway.upstream.last("/v1/calls/42")["headers"]).get("x-keysmith-permissions") == "calls.*"


def test_a_key_outside_its_allowed_ips_is_403_through_nginx(gateway):
    elsewhere = gateway.create_key(allowed_ips=["203.0.113.0/24"])
    require_persisted(gateway, elsewhere, "allowed_ips")
    here = gateway.create_key(allowed_ips=["127.0.0.1"])
    refused = gateway.call("GET", "/v1/agents2", elsewhere["secret"])
    assert refused.status_code == 403, f"{refused.status_code} {refused.text[:200]}"
    assert "allowed_ips" in refused.json()["message"]
    assert gateway.call("GET", "/v1/agents2", here["secret"]).status_code == 200


def test_keysmiths_own_routes_are_served_by_keysmith(gateway):
    whoami = gateway.call("GET", "/v1/auth/whoami", gateway.admin)
    assert whoami.status_code == 200 and "key" in whoami.json()
    bad = gateway.call("GET", "/v1/auth/whoami", "abcdefghijklmn:123456a1b1234b")
    assert bad.status_code == 401 and bad.content == UNAUTHORIZED_BODY
    listed = gateway.call("GET", "/v1/api-keys?limit=1", gateway.admin)
    assert listed.status_code == 200 and listed.json()["meta"]["limit"] == 1
    assert gateway.call("GET", "/v1/webhooks", gateway.admin).status_code == 200
    page = gateway.call("GET", "/settings/api-keys")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert gateway.call("GET", "/assets/main.js").status_code == 200
    assert all(not r["path"].startswith(("/v1/api-keys", "/settings", "/assets")) for r in gateway.upstream.received())


def test_an_exhausted_key_gets_429_with_retry_after(gateway):
    """Needs the rate limiter and the store persisting `rate_limit`; skipped, saying which, until both exist."""
    key = gateway.create_key(rate_limit={"limit": 3, "window_seconds": 60})
    require_persisted(gateway, key, "rate_limit")
    statuses = []
    for _ in range(10):
        response = gateway.call("GET", "/v1/agents2", key["secret"])
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    if 429 not in statuses and "RateLimit-Limit" not in response.headers:
        pytest.skip("waits for the rate limiter: 10 requests with a limit of 3 all passed, without RateLimit-* headers")
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429, f"{statuses}{gateway.describe()}"
    body = response.json()
    assert body == {"statusCode": 429, "message": "Too Many Requests", "error": "Too Many Requests"}, body
    assert response.headers.get("Retry-After", "").isdigit() and int(response.headers["Retry-After"]) >= 1
    assert response.headers.get("RateLimit-Limit") == "3"
    assert response.headers.get("RateLimit-Remaining") == "0"


def assert_calls_routes_need_calls_permissions(gateway: Gateway) -> None:
    """The issue's spellings of /v1/calls, through the gateway: a key with only agents.read is refused every one
    (403 naming the permission, nothing reaches the upstream); a key with calls.read reads them all, and may not
    write."""
    agents = gateway.create_key(permissions=["agents.read"])
    reader = gateway.create_key(permissions=["calls.read"])
    before = len(gateway.upstream.received())
    for target in CALLS_SPELLINGS:
        for method, needed in (("GET", "calls.read"), ("HEAD", "calls.read"), ("POST", "calls.write"), ("DELETE", "calls.write")):
            status, body = gateway.raw(method, target, agents["secret"])
            assert status == 403, f"agents.read, {method} {target}: {status} {body}{gateway.describe()}"
            if method != "HEAD":
                assert body and set(body) == {"statusCode", "message", "error"} and f"'{needed}'" in body["message"], (method, target, body)
    assert len(gateway.upstream.received()) == before, \
        f"a refused request reached the upstream: {[r['path'] for r in gateway.upstream.received()[before:]]}"
    for target in CALLS_SPELLINGS:
        status, body = gateway.raw("GET", target, reader["secret"])
        assert status == 200, f"calls.read, GET {target}: {status} {body}{gateway.describe()}"
        assert body and body.get("upstream") == "ok", body
        status, body = gateway.raw("POST", target, reader["secret"])
        assert status == 403 and "'calls.write'" in body["message"], f"calls.read, POST {target}: {status} {body}"
    assert len(gateway.upstream.received()) == before + len(CALLS_SPELLINGS)


def test_calls_routes_refuse_a_key_without_calls_permissions_however_the_path_is_spelled(gateway):
    assert_calls_routes_need_calls_permissions(gateway)
