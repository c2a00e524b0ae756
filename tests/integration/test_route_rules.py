"""`keysmith serve --route-rules FILE` as an operator runs it: the real binary, its file rewritten and reloaded
with SIGHUP, a bad file refused at start-up (with its line) and on reload (the rules in use stay, the log says
why). The rules themselves are judged through /v1/auth/verify with nginx's `X-Original-URI`, as a gateway asks.

The matching itself is covered by Tests/KeysmithTests/RouteRulesTests.swift, and through real nginx and Caddy by
test_gateway_nginx.py and test_gateway_caddy.py.
"""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from keysmith_harness import KeysmithServer, tail

CALLS_NEED_CALLS_READ = {"default": "allow", "rules": [{"path": "/v1/calls/**", "permissions": ["calls.read"]}]}
EVERYTHING_ALLOWED = {"default": "allow", "rules": []}
# A missing comma between two rules: the second one, on line 4, is where the parser finds the mistake.
BROKEN = '{"default": "allow",\n "rules": [\n  {"path": "/v1/calls/**", "permissions": []}\n  {"path": "/x", "permissions": []}]}\n'


class RulesKeysmith(KeysmithServer):
    def __init__(self, binary: str, folder: Path, rules: Path):
        super().__init__(binary, str(folder / "keysmith.sqlite"), "route-rules", folder)
        self.rules = rules

    @property
    def command(self) -> list[str]:
        return super().command + ["--encryption-key-file", str(self.rules.parent / "encryption.key"), "--route-rules", str(self.rules)]

    def verify(self, token: str, uri: str) -> int:
        return self.get("/v1/auth/verify", token, headers={"X-Original-Method": "GET", "X-Original-URI": uri}).status_code


def wait_for(condition, what: str, server: KeysmithServer, timeout: float = 20, poke=None):
    """Until `condition()` holds, calling `poke()` (a SIGHUP) every half second meanwhile; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if poke is not None:
            poke()
        next_poke = time.monotonic() + 0.5
        while time.monotonic() < next_poke:
            if condition():
                return
            time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout}s\nstderr:\n{tail(server.stderr())}")


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def test_sighup_reloads_the_rules_and_a_bad_file_keeps_the_rules_in_use(keysmith_bin, folder):
    rules = folder / "rules.json"
    rules.write_text(json.dumps(CALLS_NEED_CALLS_READ))
    server = RulesKeysmith(keysmith_bin, folder, rules)
    try:
        server.start()
        server.wait_healthy()
        admin = server.admin_token()
        created = server.post("/v1/api-keys", {"name": "agents", "permissions": ["agents.read"]}, admin)
        assert created.status_code == 201, created.text
        agents = created.json()["secret"]
        assert server.verify(agents, "/v1/calls/7") == 403
        assert server.verify(agents, "/v1/agents/7") == 200

        # Rewritten and reloaded: the next request is judged by the new file. SIGHUPs are repeated until it is:
        # one sent before the server listens for them is ignored (never fatal), and a reload is idempotent.
        rules.write_text(json.dumps(EVERYTHING_ALLOWED))
        hang_up = lambda: server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: server.verify(agents, "/v1/calls/7") == 200, "the reloaded rules were not used", server, poke=hang_up)
        assert "route rules reloaded" in server.stderr()

        # A file that does not parse: the log names its line, and the rules in use stay.
        rules.write_text(BROKEN)
        wait_for(lambda: "route rules not reloaded" in server.stderr(), "no log line about the bad file", server, poke=hang_up)
        line = next(l for l in server.stderr().splitlines() if "route rules not reloaded" in l)
        assert f"route rules file {rules}, line 4: not valid JSON" in line, line
        assert server.process.poll() is None, "the server must keep running"
        assert server.verify(agents, "/v1/calls/7") == 200, "the previous rules stay in use"

        # Fixed again: used again.
        rules.write_text(json.dumps(CALLS_NEED_CALLS_READ))
        wait_for(lambda: server.verify(agents, "/v1/calls/7") == 403, "the fixed rules were not used", server, poke=hang_up)
    finally:
        server.stop()


@pytest.mark.parametrize("content, message", [
    (BROKEN, "line 4: not valid JSON"),
    ('{"default": "allow",\n "rules": [{"path": "/v1/calls**", "permissions": []}]}', "line 2: rule 1: \"path\": '**' matches whole segments only"),
    (None, "cannot be read"),
])
def test_a_bad_rules_file_stops_start_up_with_a_message_naming_the_line(keysmith_bin, folder, content, message):
    rules = folder / "rules.json"
    if content is not None:
        rules.write_text(content)
    server = RulesKeysmith(keysmith_bin, folder, rules)
    done = subprocess.run(server.command, capture_output=True, text=True, timeout=60, cwd=folder, stdin=subprocess.DEVNULL)
    assert done.returncode != 0, f"the server started with a bad rules file:\n{tail(done.stderr)}"
    assert f"route rules file {rules}" in done.stderr and message in done.stderr, tail(done.stderr)
    assert "Server started" not in done.stderr, "nothing may listen with a bad file"
