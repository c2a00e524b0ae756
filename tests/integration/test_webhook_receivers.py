"""Real webhook receivers against a real `keysmith serve` on SQLite.

Each test starts its own server (a fresh SQLite file and encryption key file in a temp dir) and a Python
`http.server` receiver on 127.0.0.1, registers the receiver as a webhook, causes events through the API
and checks what arrives:

1. a receiver of seed 001's scheme (`X-DialNexa-Signature`: the hex HMAC-SHA256 of the raw body, keyed by the
   secret) accepts every delivery and rejects a tampered body, twice: once with the receiver written in this
   file, which verifies in its request handler and answers 401 to a bad signature, so that the server's
   attempt log shows what it decided; once with the seed's own Python `verify_webhook`, taken verbatim from
   the seed file at run time. The seed file is outside the repository (shared/seeds beside it, or
   KEYSMITH_SEEDS_DIR): where it is absent, that case is reported as skipped, never as passed or failed;
2. the official Standard Webhooks library (`standardwebhooks`) accepts the `webhook-*` headers within its
   five-minute window and rejects a tampered body, a wrong secret and timestamps outside the window;
3. a receiver that is down when the events are queued gets every one of them once it comes back
   (the 5 s retry of the production schedule), each exactly once.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from keysmith_harness import KeysmithServer, run_cli

# The seeds live in shared/ beside the repository (as in CI's checkout); KEYSMITH_SEEDS_DIR overrides.
SEEDS = Path(os.environ.get("KEYSMITH_SEEDS_DIR", Path(__file__).resolve().parents[3] / "shared" / "seeds"))
SEED_001 = SEEDS / "001_4e67c54c8d7b2ec3.txt"
SEED_START = "import hmac"
SEED_END = "return hmac.compare_digest(expected, signature_header)"

DELIVERY_TIMEOUT = 10  # seconds for a delivery the server sends at once (it is poked after every change)
RETRY_TIMEOUT = 20  # seconds for deliveries that need the 5 s retry


# --------------------------------------------------------------------------------------------- receiver


class Delivery:
    def __init__(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes):
        self.method = method
        self.path = path
        self.header_items = headers
        self.body = body
        self.received_at = time.time()

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.header_items if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} sent {len(values)} times: {values}"
        return values[0] if values else None

    @property
    def headers(self) -> dict[str, str]:
        return {k: v for k, v in self.header_items}

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} webhook-id={self.header('webhook-id')} {self.body[:120]!r}>"


class Receiver:
    """A webhook receiver on 127.0.0.1 in a thread: records every request (body bytes and headers), answers 200."""

    def __init__(self, port: int | None = None):
        # Bound to port 0 here, listening only from start(): the port is the receiver's from the start (no race
        # for a "free" one), and until start() a connection to it is refused, as to a closed port.
        self._server = ThreadingHTTPServer(("127.0.0.1", port or 0), BaseHTTPRequestHandler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.server_bind()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def _serve(self, handler) -> None:
        self._server.RequestHandlerClass = handler
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"receiver-{self.port}", daemon=True)
        self._thread.start()

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                delivery = Delivery(self.command, self.path, list(self.headers.items()), body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._changed:
                    receiver.deliveries.append(delivery)
                    receiver._changed.notify_all()

            def log_message(self, *args):
                pass

        self._serve(Handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=10)
            self._server.server_close()
            self._server = None

    def wait_for(self, predicate, timeout: float, what: str) -> list[Delivery]:
        """Waits until `predicate(deliveries)` is true; returns a snapshot of the deliveries."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.deliveries):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; received: {self.deliveries}")
                self._changed.wait(left)
            return list(self.deliveries)

    def wait_for_event(self, event_type: str, timeout: float = DELIVERY_TIMEOUT) -> Delivery:
        found = self.wait_for(lambda ds: any(d.json.get("type") == event_type for d in ds), timeout,
                              f"a {event_type} delivery")
        return next(d for d in found if d.json.get("type") == event_type)


# --------------------------------------------------------------------------------------------- server


class SQLiteKeysmith(KeysmithServer):
    """`keysmith serve` on a SQLite file, loopback webhook targets allowed, the encryption key in a temp dir."""

    def __init__(self, binary: str, database: Path, key_file: Path, log_dir: Path):
        super().__init__(binary, str(database), "sqlite", log_dir)
        self.key_file = key_file

    @property
    def command(self) -> list[str]:
        return super().command + ["--allow-private-webhook-targets", "--encryption-key-file", str(self.key_file)]


@pytest.fixture
def keysmith(keysmith_bin, log_dir, tmp_path):
    """A fresh server with one workspace; yields (server, admin token)."""
    database = tmp_path / "keysmith.sqlite"
    done = run_cli(keysmith_bin, "workspace", "create", f"wh-{uuid.uuid4().hex[:8]}", "--database", str(database), "--json")
    assert done.returncode == 0, f"`keysmith workspace create` failed ({done.returncode}): {done.stderr}"
    workspace = json.loads(done.stdout.strip().splitlines()[-1])
    server = SQLiteKeysmith(keysmith_bin, database, tmp_path / "encryption.key", log_dir)
    try:
        server.start()
        server.wait_healthy()
        yield server, workspace["secret"]
    finally:
        note = server.stop()
        if note:
            print(note)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def register(server: KeysmithServer, token: str, url: str) -> dict:
    r = server.post("/v1/webhooks", {"url": url}, token)
    assert r.status_code == 201, f"POST /v1/webhooks: {r.status_code} {r.text}"
    hook = r.json()
    assert hook["secret"].startswith("whsec_"), hook
    return hook


def create_key(server: KeysmithServer, token: str, name: str) -> dict:
    r = server.post("/v1/api-keys", {"name": name}, token)
    assert r.status_code == 201, f"POST /v1/api-keys: {r.status_code} {r.text}"
    return r.json()


def cause_three_events(server: KeysmithServer, token: str, hook: dict, receiver: Receiver) -> dict[str, Delivery]:
    """api_key.created, webhook.test, api_key.revoked, one at a time; returns each event's delivery."""
    key = create_key(server, token, "webhook-receiver-test")
    created = receiver.wait_for_event("api_key.created")
    r = server.post(f"/v1/webhooks/{hook['id']}/test", {}, token)
    assert r.status_code == 202, f"POST /v1/webhooks/{{id}}/test: {r.status_code} {r.text}"
    test_event_id = r.json()["event_id"]
    tested = receiver.wait_for_event("webhook.test")
    r = server.delete(f"/v1/api-keys/{key['id']}", token)
    assert r.status_code in (200, 204), f"DELETE /v1/api-keys/{{id}}: {r.status_code} {r.text}"
    revoked = receiver.wait_for_event("api_key.revoked")

    deliveries = {"api_key.created": created, "webhook.test": tested, "api_key.revoked": revoked}
    for event_type, d in deliveries.items():
        event = d.json
        assert d.method == "POST" and d.path == "/hook", d
        assert (d.header("Content-Type") or "").startswith("application/json"), d.header_items
        assert event["type"] == event_type
        assert event["id"].startswith("evt_") and d.header("webhook-id") == event["id"], (event, d.header_items)
        assert "secret" not in json.dumps(event["data"]), event
    assert created.json["data"]["id"] == key["id"] and revoked.json["data"]["id"] == key["id"]
    assert tested.json["id"] == test_event_id and tested.json["data"]["webhook_id"] == hook["id"]
    ids = [d.header("webhook-id") for d in receiver.deliveries]
    assert len(ids) == len(set(ids)) == 3, f"expected 3 distinct deliveries, got {receiver.deliveries}"
    return deliveries


# --------------------------------------------------------------------------------------------- 1. seed 001


def verify_dialnexa_signature(payload_body: bytes, signature_header: str, secret: str) -> bool:
    """Seed 001's scheme, written here: the lowercase hex HMAC-SHA256 of the raw body, keyed by the secret's
    UTF-8 bytes, compared in constant time."""
    expected = hmac.new(secret.encode(), payload_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), (signature_header or "").encode())


def seed_verify_webhook():
    """Seed 001's Python `verify_webhook`, its source text taken from the seed file and executed unchanged.
    Skips the calling test when the seed file is not there (it lives outside the repository)."""
    if not SEED_001.is_file():
        pytest.skip(f"seed 001 not found at {SEED_001} (outside the repository; set KEYSMITH_SEEDS_DIR): "
                    "its own receiver code cannot run here; the receiver written in the test still checks the scheme")
    text = SEED_001.read_text()
    start = text.index(SEED_START)
    end = text.index(SEED_END, start) + len(SEED_END)
    source = text[start:end]
    assert "def verify_webhook(payload_body: bytes, signature_header: str, secret: str) -> bool:" in source, source
    namespace: dict = {}
    exec(compile(source, str(SEED_001), "exec"), namespace)
    return namespace["verify_webhook"]


class VerifyingReceiver(Receiver):
    """A receiver that checks `X-DialNexa-Signature` itself before answering: 200 when it verifies, 401 when it
    does not (as a real receiver would). Every request is recorded with the verdict."""

    def __init__(self, verify, port: int | None = None):
        super().__init__(port)
        self.verify = verify
        self.secret: str | None = None
        self.verdicts: list[bool] = []

    def start(self) -> "VerifyingReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                delivery = Delivery(self.command, self.path, list(self.headers.items()), body)
                signature = self.headers.get("X-DialNexa-Signature") or ""
                ok = receiver.secret is not None and receiver.verify(body, signature, receiver.secret)
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._changed:
                    receiver.deliveries.append(delivery)
                    receiver.verdicts.append(ok)
                    receiver._changed.notify_all()

            def log_message(self, *args):
                pass

        self._serve(Handler)
        return self


@pytest.fixture(params=["written_in_test", "seed_001"])
def dialnexa_verifier(request):
    """The verifying function of a seed-001 receiver: the one written here, or the seed's own code (skipped,
    before any server starts, when the seed file is absent)."""
    if request.param == "seed_001":
        return seed_verify_webhook()
    return verify_dialnexa_signature


def test_dialnexa_signature_receiver_verifies_every_delivery(dialnexa_verifier, keysmith):
    verify_webhook = dialnexa_verifier
    server, token = keysmith
    receiver = VerifyingReceiver(verify_webhook)
    hook = register(server, token, receiver.url)
    secret = hook["secret"]
    receiver.secret = secret
    receiver.start()
    try:
        deliveries = cause_three_events(server, token, hook, receiver)
    finally:
        receiver.stop()

    # The receiver accepted each delivery in its handler (a 401 would have been retried, and shown here).
    assert receiver.verdicts == [True, True, True], list(zip(receiver.verdicts, receiver.deliveries))
    for event_type, d in deliveries.items():
        signature = d.header("X-DialNexa-Signature")
        assert signature, f"{event_type}: no X-DialNexa-Signature header: {d.header_items}"
        assert verify_webhook(d.body, signature, secret) is True, f"{event_type}: verify_webhook rejected {d}"
        tampered = d.body.replace(event_type.encode(), b"api_key.renamed", 1)
        assert tampered != d.body
        assert verify_webhook(tampered, signature, secret) is False, f"{event_type}: tampered body accepted"
        assert verify_webhook(d.body + b" ", signature, secret) is False
        assert verify_webhook(d.body, signature, "whsec_" + base64.b64encode(os.urandom(24)).decode()) is False
        assert verify_webhook(d.body, "0" * len(signature), secret) is False

    # The server recorded the receiver's 200 for each event's first and only attempt (written just after
    # the answer, so give it a moment).
    deadline = time.monotonic() + 5
    while True:
        r = server.get(f"/v1/webhooks/{hook['id']}/deliveries", token)
        assert r.status_code == 200, f"GET deliveries: {r.status_code} {r.text}"
        attempts = r.json()["data"]
        if len(attempts) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(a["event_type"] for a in attempts) == sorted(deliveries), attempts
    assert all(a["attempt"] == 1 and a["status_code"] == 200 for a in attempts), attempts


# --------------------------------------------------------------------------------------------- 2. Standard Webhooks


def test_standard_webhooks_library_verifies_every_delivery(keysmith, receiver):
    try:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    except ImportError:
        pytest.skip("the standardwebhooks package is not installed (pip install -r tests/requirements.txt)")
    server, token = keysmith
    hook = register(server, token, receiver.url)
    webhook = Webhook(hook["secret"])
    wrong = Webhook("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())

    deliveries = cause_three_events(server, token, hook, receiver)

    for event_type, d in deliveries.items():
        headers = d.headers
        timestamp = int(d.header("webhook-timestamp"))
        # The timestamp is the attempt's time, well inside the library's five-minute window.
        assert abs(d.received_at - timestamp) < 30, f"{event_type}: webhook-timestamp {timestamp}, received {d.received_at}"
        assert webhook.verify(d.body, headers) == json.loads(d.body), f"{event_type}: verify returned something else"
        # The header is exactly what the library signs for this id, timestamp and body.
        expected = webhook.sign(d.header("webhook-id"), datetime.fromtimestamp(timestamp, tz=timezone.utc), d.body.decode())
        assert expected in d.header("webhook-signature").split(" "), (expected, d.header("webhook-signature"))

        tampered = d.body.replace(event_type.encode(), b"api_key.renamed", 1)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            webhook.verify(tampered, headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            wrong.verify(d.body, headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            webhook.verify(d.body, {**headers, "webhook-id": "evt_" + "x" * 24})
        # The timestamp tolerance: outside five minutes either way is refused before the signature is checked.
        with pytest.raises(WebhookVerificationError, match="too old"):
            webhook.verify(d.body, {**headers, "webhook-timestamp": str(int(time.time()) - 6 * 60)})
        with pytest.raises(WebhookVerificationError, match="too new"):
            webhook.verify(d.body, {**headers, "webhook-timestamp": str(int(time.time()) + 6 * 60)})
        # Inside the window, a timestamp other than the signed one fails on the signature.
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            webhook.verify(d.body, {**headers, "webhook-timestamp": str(timestamp - 60)})


# --------------------------------------------------------------------------------------------- 3. receiver down


def test_receiver_that_was_down_gets_every_event_once_back(keysmith):
    server, token = keysmith
    receiver = Receiver()  # its port bound, nothing listening on it yet
    hook = register(server, token, receiver.url)
    secret = hook["secret"]
    keys = [create_key(server, token, f"while-down-{i}") for i in range(3)]

    # Wait until each event's first attempt has failed (connection refused), so the receiver really was down.
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        r = server.get(f"/v1/webhooks/{hook['id']}/deliveries", token)
        assert r.status_code == 200, f"GET deliveries: {r.status_code} {r.text}"
        first = [a for a in r.json()["data"] if a["attempt"] == 1]
        if len(first) >= 3:
            break
        assert time.monotonic() < deadline, f"first attempts not recorded within {DELIVERY_TIMEOUT}s: {r.json()}"
        time.sleep(0.2)
    assert len(first) == 3, first
    for attempt in first:
        assert attempt["event_type"] == "api_key.created" and attempt["status_code"] is None and attempt["error"], attempt
        assert attempt["next_retry_at"], attempt

    receiver.start()
    try:
        got = receiver.wait_for(lambda ds: len(ds) >= 3, RETRY_TIMEOUT, "3 api_key.created deliveries after the receiver came back")
        # Nothing more is owed: give a stray duplicate a moment to show up.
        time.sleep(1.5)
        got = list(receiver.deliveries)
    finally:
        receiver.stop()

    assert len(got) == 3, f"expected exactly 3 deliveries, got {got}"
    assert {d.json["type"] for d in got} == {"api_key.created"}
    ids = {d.header("webhook-id") for d in got}
    assert len(ids) == 3, f"webhook-ids not distinct: {[d.header('webhook-id') for d in got]}"
    assert ids == {a["event_id"] for a in first}, "the retried events are not the ones that failed"
    assert {d.json["data"]["id"] for d in got} == {k["id"] for k in keys}
    for d in got:
        assert d.json["id"] == d.header("webhook-id")
        expected = hmac.new(secret.encode(), d.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, d.header("X-DialNexa-Signature") or ""), d

    # The attempt log: each event failed once, then succeeded with 200 on attempt 2.
    deadline = time.monotonic() + 5
    while True:
        attempts = server.get(f"/v1/webhooks/{hook['id']}/deliveries", token).json()["data"]
        second = [a for a in attempts if a["attempt"] == 2]
        if len(second) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(a["event_id"] for a in second) == sorted(ids), attempts
    assert all(a["status_code"] == 200 and a["error"] is None and a["next_retry_at"] is None for a in second), second
    assert len(attempts) == 6, attempts
