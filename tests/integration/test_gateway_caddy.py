"""Keysmith as the gatekeeper of an API behind a real Caddy, with the shipped deploy/caddy/Caddyfile.

Three real processes on loopback: `keysmith serve` (SQLite, `--trusted-proxy 127.0.0.1/32`, the shipped route rules
deploy/route-rules.json), Caddy (`caddy run`
in the foreground, everything it writes in the test's folder) with the shipped Caddyfile unchanged, its addresses
given through the environment placeholders the file reads, and an upstream API (a Python http.server thread that
records every request's headers). Requests go to Caddy only, as a client of the protected API would send them
(seed 001's `curl /v1/agents2 -H "Authorization: Bearer KEY"`).

The upstream, the Keysmith process and the client helpers are test_gateway_nginx.py's. The tests are skipped,
with the reason, only when Caddy cannot be installed.
"""

import json
from pathlib import Path

import pytest
import requests

from keysmith_harness import UNAUTHORIZED, CaddyServer, caddy_binary, free_port
from test_gateway_nginx import (
    UNAUTHORIZED_BODY,
    Gateway,
    GatewayKeysmith,
    RecordingUpstream,
    assert_calls_routes_need_calls_permissions,
    bad_credentials,
)

IDENTITY_HEADERS = ("x-keysmith-key-id", "x-keysmith-workspace-id", "x-keysmith-scope",
                    "x-keysmith-service-account-id", "x-keysmith-permissions")


class CaddyGateway(Gateway):
    """test_gateway_nginx's Gateway with Caddy in front: its `nginx` is the CaddyServer (the same base and
    log_tail), also reachable as `caddy`."""

    def __init__(self, keysmith: GatewayKeysmith, caddy: CaddyServer, upstream: RecordingUpstream, admin: str, folder: Path):
        super().__init__(keysmith, caddy, upstream, admin)
        self.caddy = caddy
        self.folder = folder

    def call(self, method: str, path: str, token: str | None = None, headers: dict | None = None, **kwargs) -> requests.Response:
        """Gateway.call, a broken answer reported with both logs rather than as a bare exception."""
        try:
            return super().call(method, path, token, headers, **kwargs)
        except requests.RequestException as error:
            raise AssertionError(f"{method} {path} through caddy: {error!r}{self.describe()}") from None

    def call_other(self, caddy: CaddyServer, method: str, path: str, token: str | None = None) -> requests.Response:
        """A request to another Caddy of the test (same client session), failures reported with its log."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        try:
            return self.session.request(method, caddy.base + path, headers=headers, timeout=10)
        except requests.RequestException as error:
            raise AssertionError(f"{method} {path} through {caddy.folder.name}: {error!r}\n{caddy.log_tail()}") from None

    def create_key(self, **fields) -> dict:
        """A key created through Caddy, which hands /v1/api-keys to Keysmith itself."""
        response = self.call("POST", "/v1/api-keys", self.admin, json={"name": "gateway test", **fields})
        assert response.status_code == 201, f"create through caddy: {response.status_code} {response.text[:300]}{self.describe()}"
        return response.json()


def start_caddy(binary: str, folder: Path, keysmith_address: str, api_address: str) -> CaddyServer:
    """A Caddy on a free port with the shipped Caddyfile; a port taken meanwhile is tried again (Caddy cannot
    be asked to bind port 0 and say which it got)."""
    for attempt in range(5):
        caddy = CaddyServer(binary, folder / f"caddy-{attempt}", free_port(), keysmith_address, api_address)
        try:
            return caddy.start()
        except AssertionError:
            caddy.stop()
            if "address already in use" not in caddy.log_tail() or attempt == 4:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def gateway(keysmith_bin, tmp_path_factory):
    binary = caddy_binary()
    if binary is None:
        pytest.skip("caddy is not installed and scripts/setup.sh could not install it (needs root or sudo and apt-get)")
    tmp = tmp_path_factory.mktemp("gateway-caddy")
    upstream = RecordingUpstream()
    keysmith = GatewayKeysmith(keysmith_bin, tmp, tmp)
    caddy = None
    try:
        admin = keysmith.start_for_gateway()
        caddy = start_caddy(binary, tmp, f"127.0.0.1:{keysmith.port}", f"127.0.0.1:{upstream.port}")
        yield CaddyGateway(keysmith, caddy, upstream, admin, tmp)
    finally:
        if caddy is not None:
            caddy.stop()
        keysmith.stop()
        upstream.stop()


def keysmith_connections(port: int) -> set[tuple[str, str]]:
    """Every TCP socket on this machine (any state, TIME_WAIT included) whose remote port is `port`, as
    (table, local address) pairs read from /proc/net/tcp and /proc/net/tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(remote.rsplit(":", 1)[1], 16) == port:
                found.add((table, local))
    return found


# --------------------------------------------------------------------------------------------- the tests


def test_caddyfile_validates_and_adapts_with_its_defaults(gateway):
    gateway.caddy.validate()
    adapted = gateway.caddy.adapt()
    server = adapted["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [f"127.0.0.1:{gateway.caddy.port}"], server["listen"]
    assert adapted.get("admin", {}).get("disabled") is True, adapted.get("admin")
    text = json.dumps(adapted)
    assert f'"dial": "127.0.0.1:{gateway.keysmith.port}"' in text and f'"dial": "127.0.0.1:{gateway.upstream.port}"' in text
    # The check is a GET (see the Caddyfile: a HEAD would leave Keysmith's refusals without their body).
    assert '"rewrite": {"method": "GET", "uri": "/v1/auth/verify"}' in text, text[:3000]
    # Without the environment: the deploy defaults written in the file.
    defaults = gateway.caddy.adapt(unset=("CADDY_SITE", "CADDY_BIND", "CADDY_ADMIN", "KEYSMITH_ADDRESS", "API_ADDRESS"))
    assert defaults["admin"] == {"listen": "localhost:2019"}, defaults.get("admin")
    assert defaults["apps"]["http"]["servers"]["srv0"]["listen"] == [":8000"]
    text = json.dumps(defaults)
    assert '"dial": "127.0.0.1:8080"' in text and '"dial": "127.0.0.1:9000"' in text
    # What Caddy writes (its autosaved configuration, ~/.step) lands in the test's folder.
    autosave = gateway.caddy.folder / "config" / "caddy" / "autosave.json"
    assert autosave.is_file(), f"no {autosave}: Caddy did not take XDG_CONFIG_HOME\n{gateway.caddy.log_tail()}"
    print(gateway.caddy.version())


def test_seed_001_request_reaches_the_upstream_with_the_identity_and_without_the_secret(gateway):
    key = gateway.create_key(scope="read-write", service_account_id="svc-agents")
    secret = key["secret"].split(":", 1)[1]
    # A client that tries to pose as another key with its own headers is overruled.
    response = gateway.call("GET", "/v1/agents2", key["secret"],
                            headers={"X-Keysmith-Key-Id": "forgedforgedxx", "X-Keysmith-Scope": "admin",
                                     "X-Keysmith-Service-Account-Id": "forged", "X-Keysmith-Permissions": "*"})
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}{gateway.describe()}"
    assert response.json() == {"upstream": "ok", "path": "/v1/agents2"}
    headers = gateway.upstream.last("/v1/agents2")["headers"]
    got = dict(headers)
    assert got.get("x-keysmith-key-id") == key["id"], got
    assert got.get("x-keysmith-workspace-id") == key["workspace_id"], got
    assert got.get("x-keysmith-scope") == "read-write", got
    assert got.get("x-keysmith-service-account-id") == "svc-agents", got
    assert got.get("x-keysmith-permissions") == "*", got
    assert "authorization" not in got, "the upstream must not see the client's Authorization header"
    for name in IDENTITY_HEADERS:
        assert [n for n, _ in headers].count(name) == 1, f"{name} upstream: {headers}"
    assert all(secret not in value for _, value in headers), "the secret must not reach the upstream"
    assert not any(name.startswith("x-keysmith-ratelimit") for name, _ in headers), headers
    assert not any(name in ("x-original-method", "x-original-uri") for name, _ in headers), headers
    # A key without a rate limit: no RateLimit-* for the client.
    assert not [h for h in response.headers if h.lower().startswith("ratelimit-")], dict(response.headers)
    # A request with a body goes through with it; the check itself carries no body.
    posted = gateway.call("POST", "/v1/agents2", key["secret"], json={"name": "agent"})
    assert posted.status_code == 200, f"{posted.status_code} {posted.text[:300]}{gateway.describe()}"
    assert json.loads(gateway.upstream.last("/v1/agents2")["body"]) == {"name": "agent"}
    # Keysmith saw the use, from the client's address (Caddy's X-Forwarded-For, trusted).
    me = gateway.call("GET", "/v1/auth/whoami", key["secret"]).json()
    assert me["key"]["last_used_ip"] == "127.0.0.1", me
    # A key without a service account: that header is absent upstream, not empty, and no placeholder text
    # (Caddy 2.6's copy_headers sets a missing header to "{http.reverse_proxy.header....}") reaches it.
    plain = gateway.create_key()
    plain_response = gateway.call("GET", "/v1/plain", plain["secret"], headers={"X-Keysmith-Service-Account-Id": "forged"})
    assert plain_response.status_code == 200, f"{plain_response.status_code} {plain_response.text[:300]}{gateway.describe()}"
    plain_headers = gateway.upstream.last("/v1/plain")["headers"]
    assert "x-keysmith-service-account-id" not in dict(plain_headers), plain_headers
    assert all("{" not in value for _, value in plain_headers), plain_headers


def test_every_bad_credential_gets_the_seed_401_body_from_caddy(gateway):
    cases = bad_credentials(gateway)
    before = len(gateway.upstream.received())
    for case, token in cases.items():
        for method in ("GET", "POST", "DELETE"):
            response = gateway.call(method, "/v1/agents2", token)
            assert response.status_code == 401, f"{case}, {method}: {response.status_code} {response.text[:200]}{gateway.describe()}"
            assert response.content == UNAUTHORIZED_BODY, f"{case}, {method}: {response.content!r}"
            assert response.json() == UNAUTHORIZED
            assert response.headers.get("WWW-Authenticate") == "Bearer", (case, dict(response.headers))
            assert response.headers.get("Content-Type", "").startswith("application/json"), (case, dict(response.headers))
            assert "X-Keysmith-Error" not in response.headers, (case, dict(response.headers))
        head = gateway.call("HEAD", "/v1/agents2", token)
        assert head.status_code == 401 and head.content == b"", f"{case}, HEAD: {head.status_code} {head.content!r}"
    assert len(gateway.upstream.received()) == before, "no refused request may reach the upstream"


def test_a_read_key_may_read_but_its_post_is_403_even_when_the_client_names_another_method(gateway):
    reader = gateway.create_key(scope="read")
    assert gateway.call("GET", "/v1/agents2", reader["secret"]).status_code == 200
    assert gateway.call("HEAD", "/v1/agents2", reader["secret"]).status_code == 200
    assert gateway.call("OPTIONS", "/v1/agents2", reader["secret"]).status_code == 200
    before = len(gateway.upstream.received())
    # Keysmith prefers X-Original-Method (nginx's) to X-Forwarded-Method: a client's own must not reach it.
    forged = {"X-Original-Method": "GET", "X-Original-URI": "/v1/agents2", "X-Forwarded-Method": "GET"}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for headers in ({}, forged):
            response = gateway.call(method, "/v1/agents2", reader["secret"], json={"x": 1}, headers=headers)
            assert response.status_code == 403, f"{method} {headers}: {response.status_code} {response.text[:200]}{gateway.describe()}"
            body = response.json()
            assert set(body) == {"statusCode", "message", "error"} and body["statusCode"] == 403 and body["error"] == "Forbidden", body
            assert "scope 'read'" in body["message"] and method in body["message"], body
            assert response.headers.get("Content-Type", "").startswith("application/json"), dict(response.headers)
    assert len(gateway.upstream.received()) == before, "no refused request may reach the upstream"


def test_a_route_that_needs_a_permission_refuses_keys_without_it(gateway):
    """The permission comes from Keysmith's route rules (deploy/route-rules.json), not from the Caddyfile."""
    agents = gateway.create_key(permissions=["agents.*"])
    calls = gateway.create_key(permissions=["calls.*"])
    refused = gateway.call("GET", "/v1/calls/42", agents["secret"])
    assert refused.status_code == 403, f"{refused.status_code} {refused.text[:200]}{gateway.describe()}"
    assert refused.json()["statusCode"] == 403 and "calls.read" in refused.json()["message"], refused.text
    # The rules match the normalised path, without regard to case: the same requirement.
    for spelling in ("/v1/%63alls/42", "/V1/Calls/42"):
        other = gateway.call("GET", spelling, agents["secret"])
        assert other.status_code == 403, f"{spelling}: {other.status_code} {other.text[:200]}"
    # A client's own requirement header is removed (request_header -X-Keysmith-*): it cannot pose as the gateway.
    allowed_anyway = gateway.call("GET", "/v1/agents2", agents["secret"], headers={"X-Keysmith-Require-Permission": "calls.read"})
    assert allowed_anyway.status_code == 200, f"the route without a requirement: {allowed_anyway.status_code} {allowed_anyway.text[:200]}"
    allowed = gateway.call("GET", "/v1/calls/42", calls["secret"])
    assert allowed.status_code == 200, f"{allowed.status_code} {allowed.text[:200]}{gateway.describe()}"
    assert dict(gateway.upstream.last("/v1/calls/42")["headers"]).get("x-keysmith-permissions") == "calls.*"


def test_calls_routes_refuse_a_key_without_calls_permissions_however_the_path_is_spelled(gateway):
    assert_calls_routes_need_calls_permissions(gateway)


def test_a_key_outside_its_allowed_ips_is_403_through_caddy_whatever_the_client_says(gateway):
    elsewhere = gateway.create_key(allowed_ips=["203.0.113.0/24"])
    here = gateway.create_key(allowed_ips=["127.0.0.1"])
    # Caddy replaces a client's own X-Forwarded-For (it trusts no proxy in front of it), and sets X-Real-IP.
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
    for headers in ({}, spoofed):
        refused = gateway.call("GET", "/v1/agents2", elsewhere["secret"], headers=headers)
        assert refused.status_code == 403, f"{headers}: {refused.status_code} {refused.text[:200]}{gateway.describe()}"
        assert "allowed_ips" in refused.json()["message"], refused.text
        passed = gateway.call("GET", "/v1/agents2", here["secret"], headers=headers)
        assert passed.status_code == 200, f"{headers}: {passed.status_code} {passed.text[:200]}"


def test_keysmiths_own_routes_are_served_by_keysmith(gateway):
    whoami = gateway.call("GET", "/v1/auth/whoami", gateway.admin)
    assert whoami.status_code == 200 and "key" in whoami.json(), f"{whoami.status_code} {whoami.text[:200]}"
    bad = gateway.call("GET", "/v1/auth/whoami", "abcdefghijklmn:123456a1b1234b")
    assert bad.status_code == 401 and bad.content == UNAUTHORIZED_BODY, f"{bad.status_code} {bad.content!r}"
    listed = gateway.call("GET", "/v1/api-keys?limit=1", gateway.admin)
    assert listed.status_code == 200 and listed.json()["meta"]["limit"] == 1, f"{listed.status_code} {listed.text[:200]}"
    webhooks = gateway.call("GET", "/v1/webhooks", gateway.admin)
    assert webhooks.status_code == 200, f"{webhooks.status_code} {webhooks.text[:200]}"
    page = gateway.call("GET", "/settings/api-keys")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"], f"{page.status_code} {page.headers}"
    asset = gateway.call("GET", "/assets/main.js")
    assert asset.status_code == 200, f"{asset.status_code} {asset.text[:200]}"
    spec = gateway.call("GET", "/openapi.yaml")
    assert spec.status_code == 200 and "openapi:" in spec.text[:200], f"{spec.status_code} {spec.text[:200]}"
    assert all(not r["path"].startswith(("/v1/api-keys", "/v1/webhooks", "/v1/auth", "/settings", "/assets", "/openapi"))
               for r in gateway.upstream.received()), [r["path"] for r in gateway.upstream.received()]


def test_an_exhausted_key_gets_429_with_retry_after_and_every_answer_its_rate_limit(gateway):
    key = gateway.create_key(rate_limit={"limit": 3, "window_seconds": 60})
    responses = []
    for _ in range(10):
        response = gateway.call("GET", "/v1/agents2", key["secret"])
        responses.append(response)
        if response.status_code == 429:
            break
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 429], f"{statuses}{gateway.describe()}"
    for remaining, passed in zip(("2", "1", "0"), responses):
        assert passed.headers.get("RateLimit-Limit") == "3", dict(passed.headers)
        assert passed.headers.get("RateLimit-Remaining") == remaining, dict(passed.headers)
        assert passed.headers.get("RateLimit-Reset", "").isdigit(), dict(passed.headers)
    assert response.content == b'{"statusCode":429,"message":"Too Many Requests","error":"Too Many Requests"}', response.content
    assert response.headers.get("Retry-After", "").isdigit() and int(response.headers["Retry-After"]) >= 1, dict(response.headers)
    assert response.headers.get("RateLimit-Limit") == "3", dict(response.headers)
    assert response.headers.get("RateLimit-Remaining") == "0", dict(response.headers)
    upstream_headers = gateway.upstream.last("/v1/agents2")["headers"]
    assert not any(name.startswith("x-keysmith-ratelimit") for name, _ in upstream_headers), upstream_headers


def test_checks_use_the_connection_to_keysmith_again(gateway):
    """The Caddyfile's buffer_responses: forward_auth reads the whole of Keysmith's 200, so that Go's
    transport keeps the connection; unread, every check would open a new one."""
    key = gateway.create_key()
    assert gateway.call("GET", "/v1/warm", key["secret"]).status_code == 200
    before = keysmith_connections(gateway.keysmith.port)
    for i in range(30):
        response = gateway.call("GET", f"/v1/reuse/{i}", key["secret"])
        assert response.status_code == 200, f"{response.status_code} {response.text[:200]}{gateway.describe()}"
    new = keysmith_connections(gateway.keysmith.port) - before
    assert len(new) <= 3, f"30 checks opened {len(new)} new connections to Keysmith: {sorted(new)}"


def test_keysmith_unreachable_is_a_503_in_the_error_shape_and_an_unreachable_api_is_caddys_502(gateway):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    key = gateway.create_key()
    no_keysmith = start_caddy(gateway.caddy.binary, gateway.folder / "no-keysmith", dead, f"127.0.0.1:{gateway.upstream.port}")
    try:
        for path in ("/v1/agents2", "/v1/api-keys"):
            response = gateway.call_other(no_keysmith, "GET", path, key["secret"])
            assert response.status_code == 503, f"{path}: {response.status_code} {response.text[:200]}\n{no_keysmith.log_tail()}"
            body = response.json()
            assert body["statusCode"] == 503 and body["error"] == "Service Unavailable", body
            assert response.headers.get("Content-Type", "").startswith("application/json"), dict(response.headers)
    finally:
        no_keysmith.stop()
    no_api = start_caddy(gateway.caddy.binary, gateway.folder / "no-api", f"127.0.0.1:{gateway.keysmith.port}", dead)
    try:
        response = gateway.call_other(no_api, "GET", "/v1/agents2", key["secret"])
        assert response.status_code == 502, f"{response.status_code} {response.text[:200]}\n{no_api.log_tail()}"
        refused = gateway.call_other(no_api, "GET", "/v1/agents2")
        assert refused.status_code == 401 and refused.content == UNAUTHORIZED_BODY, f"{refused.status_code} {refused.content!r}"
    finally:
        no_api.stop()
