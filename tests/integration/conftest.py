"""Fixtures for the multi-instance integration tests: real `keysmith` processes on real PostgreSQL.

Everything here starts real processes (the server binary, psql) and always stops them in the fixtures'
teardown. When a test fails, the stderr of every keysmith process it used is printed in the teardown
section of its report.
"""

import base64
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, where the shared harness is
from keysmith_harness import (  # noqa: E402
    LIVE_SERVERS,
    KeysmithServer,
    keysmith_binary,
    psql,
    run_cli,
    start_together,
    condensed,
    with_database,
)


# Every instance on one database needs the same key for sealed webhook secrets; give the servers one
# through the environment so that none writes a key file into the working directory.
os.environ.setdefault("KEYSMITH_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())


# --------------------------------------------------------------------------------------------- hooks


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


@pytest.fixture(autouse=True)
def _dump_keysmith_logs_on_failure(request):
    yield
    failed = any(getattr(getattr(request.node, "rep_" + when, None), "failed", False) for when in ("setup", "call"))
    if failed:
        # Every keysmith process this test used: its own, and those of the shared fixtures it requested.
        for server in LIVE_SERVERS:
            if server.fixture is not None and server.fixture not in request.fixturenames:
                continue
            running = server.process is not None and server.process.poll() is None
            state = "running" if running else f"exited {server.process.returncode if server.process else '?'}"
            print(f"\n===== stderr of {server.name} ({' '.join(server.command)}) [{state}] =====")
            print(condensed(server.stderr()))
    # Forget the processes that are gone (a test's own servers); the shared cluster stays listed.
    LIVE_SERVERS[:] = [s for s in LIVE_SERVERS if s.process is not None and s.process.poll() is None]


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def keysmith_bin() -> str:
    """The server binary; waits (up to 5 minutes) while the other engineer's rebuild has removed it."""
    try:
        return keysmith_binary(wait=300)
    except FileNotFoundError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("KEYSMITH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL not available (KEYSMITH_TEST_POSTGRES_URL is not set)")
    return url


@pytest.fixture(scope="session")
def make_database(pg_url):
    """Creates fresh, empty databases on the shared PostgreSQL; drops them all at the end of the session."""
    created = []

    def make(prefix: str = "ks_it") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        psql(pg_url, f'CREATE DATABASE "{name}"')
        created.append(name)
        return with_database(pg_url, name)

    yield make
    for name in created:
        try:
            psql(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as error:  # a leftover database is not worth failing the run for
            print(f"could not drop {name}: {error}")


@pytest.fixture(scope="session")
def log_dir():
    with tempfile.TemporaryDirectory(prefix="keysmith-it-logs.") as d:
        yield Path(d)


class Cluster:
    def __init__(self, binary: str, database: str, servers: list[KeysmithServer]):
        self.binary = binary
        self.database = database
        self.servers = servers
        self.a, self.b, self.c = servers

    def workspace(self) -> dict:
        """A workspace of its own (random name) and its admin key, through the CLI."""
        name = f"it-{uuid.uuid4().hex[:10]}"
        done = run_cli(self.binary, "workspace", "create", name, "--database", self.database, "--json")
        assert done.returncode == 0, f"`keysmith workspace create {name}` failed ({done.returncode}): {done.stderr}"
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line, got: {done.stdout!r}"
        created = json.loads(lines[0])
        assert set(created) == {"workspace_id", "workspace_name", "key_id", "secret"}, created
        assert created["workspace_name"] == name
        return created


@pytest.fixture(scope="module")
def cluster(keysmith_bin, make_database, log_dir):
    """Three `keysmith serve` processes (A, B, C) on one fresh PostgreSQL database, started at the same moment."""
    database = make_database()
    servers = [KeysmithServer(keysmith_bin, database, name, log_dir, fixture="cluster") for name in ("A", "B", "C")]
    try:
        start_together(servers)
        for server in servers:
            server.wait_healthy()
        yield Cluster(keysmith_bin, database, servers)
    finally:
        notes = [server.stop() for server in servers]
        for note in filter(None, notes):
            print(note)
