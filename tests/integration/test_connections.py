"""Connections against a real `keysmith serve` on SQLite, on loopback only.

1. Slow clients: hundreds of connections that trickle their request headers one byte a second do not stop
   a normal client from being served: each of its `GET /healthz` requests, on a new connection, answers
   in under 2 seconds while they trickle.
2. Idle connections: with `--idle-timeout 2`, a connection that sends nothing, and a keep-alive connection
   after a complete request, are closed by the server about 2 seconds later, not before 1 second.

Every loop here is bounded in count and time, and every socket is closed at the end, whatever happens.
"""

import errno
import os
import select
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from keysmith_harness import KeysmithServer, run_cli, tail

TRICKLERS = int(os.environ.get("KEYSMITH_TEST_TRICKLERS", "300"))
TRICKLE_SECONDS = 8  # how long the slow connections trickle while the normal client is measured
PROBE_EVERY = 0.5  # seconds between the normal client's requests
PROBE_LIMIT = 2.0  # seconds each of its requests may take
IDLE_TIMEOUT = 2  # seconds, given to the server as --idle-timeout

# A request head that is never finished within the test: 1 byte a second never reaches the blank line.
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: trickle\r\nX-Padding: " + b"a" * 200


class SQLiteServer(KeysmithServer):
    """`keysmith serve` on a fresh SQLite file in the test's temp dir, with extra options."""

    def __init__(self, binary: str, tmp_path: Path, log_dir: Path, extra: list[str]):
        super().__init__(binary, str(tmp_path / "keysmith.sqlite"), "connections", log_dir)
        self.key_file = tmp_path / "encryption.key"
        self.extra = extra

    @property
    def command(self) -> list[str]:
        return super().command + ["--encryption-key-file", str(self.key_file), *self.extra]


def start_server(binary: str, tmp_path: Path, log_dir: Path, extra: list[str]) -> SQLiteServer:
    server = SQLiteServer(binary, tmp_path, log_dir, extra)
    server.start()
    try:
        server.wait_healthy()
    except AssertionError:
        server.stop()
        raise
    return server


@pytest.fixture
def default_server(keysmith_bin, tmp_path, log_dir):
    server = start_server(keysmith_bin, tmp_path, log_dir, [])
    yield server
    note = server.stop()
    if note:
        print(note)


# --------------------------------------------------------------------------------------------- 1. slow clients


class Tricklers:
    """TRICKLERS connections from one thread, each sending SLOW_HEAD one byte a second."""

    def __init__(self, port: int, count: int):
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.connect_failures: list[str] = []
        self.closed_by_server = 0  # connections the server closed (or reset) while they trickled
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        for _ in range(self.count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError as error:
                self.connect_failures.append(repr(error))
                s.close()
                continue
            s.setblocking(False)
            self.sockets.append(s)

    def _run(self) -> None:
        live = {s: 0 for s in self.sockets}  # socket -> bytes of SLOW_HEAD sent
        tick = time.monotonic()
        while not self._stop.is_set() and live:
            for s in list(live):
                sent = live[s]
                try:
                    # A closed connection shows up as EOF or a reset when read, or a failing send.
                    readable, _, _ = select.select([s], [], [], 0)
                    if readable and s.recv(4096) == b"":
                        raise ConnectionResetError("EOF")
                    if sent < len(SLOW_HEAD):
                        s.send(SLOW_HEAD[sent:sent + 1])
                        live[s] = sent + 1
                        self.bytes_sent += 1
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_by_server += 1
                    del live[s]
            tick += 1.0
            self._stop.wait(max(0.0, tick - time.monotonic()))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tricklers", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for s in self.sockets:
            s.close()


def test_slow_header_tricklers_do_not_stop_a_normal_client(default_server):
    server = default_server
    tricklers = Tricklers(server.port, TRICKLERS)
    latencies: list[float] = []
    failures: list[str] = []
    try:
        tricklers.open()
        tricklers.start()
        time.sleep(1.5)  # every slow connection has started its head
        end = time.monotonic() + TRICKLE_SECONDS
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                # A new connection each time (Connection: close), as a new client would come.
                r = requests.get(server.base + "/healthz", timeout=PROBE_LIMIT + 3, headers={"Connection": "close"})
                elapsed = time.monotonic() - started
                latencies.append(elapsed)
                if r.status_code != 200 or r.json() != {"status": "ok"}:
                    failures.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as error:
                latencies.append(time.monotonic() - started)
                failures.append(repr(error))
            time.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - started)))
        still_trickling = len(tricklers.sockets) - tricklers.closed_by_server
    finally:
        tricklers.close()

    summary = (f"{len(tricklers.sockets)} of {TRICKLERS} slow connections opened "
               f"({len(tricklers.connect_failures)} failed: {tricklers.connect_failures[:3]}), "
               f"{tricklers.closed_by_server} closed by the server, {still_trickling} trickling at the end; "
               f"normal client: {len(latencies)} requests, slowest {max(latencies, default=0):.3f}s")
    print(summary)
    assert len(latencies) >= TRICKLE_SECONDS / (PROBE_EVERY + PROBE_LIMIT), summary
    assert failures == [], f"the normal client was not served: {failures[:5]}; {summary}"
    slow = [round(t, 3) for t in latencies if t >= PROBE_LIMIT]
    assert slow == [], f"requests slower than {PROBE_LIMIT}s: {slow}; {summary}"
    # The server is still healthy after the slow connections are gone.
    assert server.process.poll() is None, f"the server exited: {tail(server.stderr())}"
    assert requests.get(server.base + "/healthz", timeout=PROBE_LIMIT).status_code == 200


# --------------------------------------------------------------------------------------------- 2. idle timeout


def seconds_until_closed(s: socket.socket, limit: float) -> float | None:
    """Waits up to `limit` seconds for the server to close `s` (EOF or reset); the time it took, or None."""
    started = time.monotonic()
    deadline = started + limit
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select([s], [], [], left)
        if not readable:
            return None
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return time.monotonic() - started
        except OSError as error:
            if error.errno in (errno.ECONNRESET, errno.EPIPE):
                return time.monotonic() - started
            raise
        if data == b"":
            return time.monotonic() - started
        # Anything else (a response) is read and ignored; keep waiting for the close.


def test_serve_documents_the_idle_timeout(keysmith_bin):
    done = run_cli(keysmith_bin, "serve", "--help")
    assert done.returncode == 0, done.stderr
    assert "--idle-timeout" in done.stdout, f"`keysmith serve --help` has no --idle-timeout:\n{done.stdout}"
    # Its paragraph of the help gives the default, 30 seconds.
    paragraph = done.stdout.split("--idle-timeout <")[-1].split("\n  --")[0]
    assert "default: 30)" in " ".join(paragraph.split()), f"no default of 30 s in: {paragraph!r}"


def test_idle_connections_are_closed_after_the_idle_timeout(keysmith_bin, tmp_path, log_dir):
    # Started here rather than in a fixture: a server that refuses the option fails this test, saying so.
    server = start_server(keysmith_bin, tmp_path, log_dir, ["--idle-timeout", str(IDLE_TIMEOUT)])
    sockets: list[socket.socket] = []
    try:
        # (a) a connection that never sends a byte
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=3)
        sockets.append(silent)
        # (b) a keep-alive connection after one complete request and its response
        kept = socket.create_connection(("127.0.0.1", server.port), timeout=3)
        sockets.append(kept)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = b""
        deadline = time.monotonic() + 3
        while b'{"status":"ok"}' not in head.replace(b" ", b"") and time.monotonic() < deadline:
            chunk = kept.recv(65536)
            if not chunk:
                break
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head[:300]
        assert b"connection: close" not in head.lower(), "the server did not keep the connection alive"
        opened = time.monotonic()

        # Open for most of the timeout...
        early = 1.0
        for name, s in (("silent", silent), ("kept-alive", kept)):
            closed = seconds_until_closed(s, max(0.0, early - (time.monotonic() - opened)))
            assert closed is None, f"{name} connection closed after {time.monotonic() - opened:.2f}s, before {early}s"
        # ...then closed by the server, within a margin of the timeout.
        limit = IDLE_TIMEOUT + 3
        for name, s in (("silent", silent), ("kept-alive", kept)):
            closed = seconds_until_closed(s, max(0.0, limit - (time.monotonic() - opened)))
            assert closed is not None, (f"the {name} connection was still open {limit}s after it went idle "
                                        f"(--idle-timeout {IDLE_TIMEOUT})")
        # A new client is served as before.
        assert requests.get(server.base + "/healthz", timeout=3).status_code == 200
    finally:
        for s in sockets:
            s.close()
        note = server.stop()
        if note:
            print(note)
