"""The contract, fuzzed: schemathesis against a live `keysmith serve`, with every check and phase.

The server and schemathesis run together in a fresh network namespace (`unshare --net --mount`) that has
nothing but loopback, so the server's webhook deliveries cannot leave the machine whatever URLs the
fuzzer registers; see fuzz_in_sandbox.py. The configuration is schemathesis.toml beside this file, with
each excluded check and its reason; schemathesis_hooks.py says what the two hooks do and why.

The test fails on any schemathesis failure and prints schemathesis's whole report. Where a machine cannot
create namespaces (an unprivileged container), the test is reported as skipped, never passed.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, where the shared harness is
from keysmith_harness import REPO, KeysmithServer, keysmith_binary  # noqa: E402

DOCUMENT = REPO / "Sources" / "Keysmith" / "HTTP" / "openapi.yaml"
RUN_TIMEOUT = 15 * 60
# Generated cases per operation. The test command's run covers every operation and check with the examples,
# fuzzing (25 cases an operation) and stateful phases, in about a minute; scripts/fuzz.sh runs the deeper
# one (200 cases, schemathesis.toml's own figure, and the coverage phase) as a command of its own.
MAX_EXAMPLES = os.environ.get("KEYSMITH_CONTRACT_MAX_EXAMPLES", "25")


def wait_for_binary() -> str:
    """The server binary; waits (up to 10 minutes) while a build is still producing it."""
    try:
        return keysmith_binary(wait=600)
    except FileNotFoundError as error:
        pytest.fail(str(error))


def namespace_command() -> list[str]:
    """`unshare` arguments that give a new network and mount namespace here, or a skip."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("the contract run needs `unshare` (util-linux) and `ip` (iproute2) to isolate the server")
    candidates = [["unshare", "--net", "--mount"], ["unshare", "--user", "--map-root-user", "--net", "--mount"]]
    for candidate in candidates:
        probe = subprocess.run([*candidate, "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
        if probe.returncode == 0:
            return candidate
    pytest.skip(f"cannot create a network namespace here ({probe.stderr.strip()}); the contract run needs one "
                "so that the server's webhook deliveries cannot leave the machine")


def schemathesis_executable() -> str:
    found = shutil.which("schemathesis") or shutil.which("st")
    if found is None:
        pytest.fail("schemathesis is not installed: python3 -m pip install -r tests/requirements.txt")
    return found


def test_document_is_valid_openapi():
    from openapi_spec_validator import validate

    validate(yaml.safe_load(DOCUMENT.read_text()))


def test_every_operation_has_an_id_and_documents_its_errors():
    document = yaml.safe_load(DOCUMENT.read_text())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation.get("operationId"), f"{method.upper()} {path} has no operationId"
            if path.startswith("/v1/"):
                assert {"401", "429", "503"} <= set(operation["responses"]), f"{method.upper()} {path}"


def test_served_document_is_the_repository_file(tmp_path):
    binary = wait_for_binary()
    server = KeysmithServer(binary, str(tmp_path / "keysmith.sqlite"), "openapi", tmp_path).start()
    try:
        server.wait_healthy(timeout=60)
        response = server.get("/openapi.yaml")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/yaml")
        assert response.content == DOCUMENT.read_bytes(), (
            "the server serves another openapi.yaml than the repository's: rebuild it (`swift build`)")
    finally:
        server.stop()


def test_schemathesis_finds_nothing(tmp_path):
    binary = wait_for_binary()
    unshare = namespace_command()
    schemathesis = schemathesis_executable()
    report_dir = Path(os.environ.get("KEYSMITH_CONTRACT_REPORT_DIR", tmp_path / "schemathesis-report"))
    command = [*unshare, sys.executable, str(HERE / "fuzz_in_sandbox.py"), "--binary", binary,
               "--report-dir", str(report_dir), "--schemathesis", schemathesis, "--", "--max-examples", MAX_EXAMPLES]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path)
    except subprocess.TimeoutExpired as error:
        output = error.stdout.decode(errors="replace") if isinstance(error.stdout, bytes) else (error.stdout or "")
        pytest.fail(f"the contract run took more than {RUN_TIMEOUT} s\n{output[-20000:]}")
    elapsed = time.monotonic() - started
    report = done.stdout + (f"\n--- stderr ---\n{done.stderr}" if done.stderr.strip() else "")
    print(report)
    print(f"contract run: {elapsed:.0f} s with {MAX_EXAMPLES} cases an operation, exit {done.returncode}, reports in {report_dir}")
    summary, keep = [], False
    for line in done.stdout.splitlines():  # each run's SUMMARY section, up to the runner's "exited" line
        keep = keep or "SUMMARY" in line
        if keep:
            summary.append(line)
        if line.startswith("schemathesis ("):
            keep = False
    summary = "\n".join(summary)
    if done.returncode != 0:
        pytest.fail(f"schemathesis found failures (exit {done.returncode}); the whole report is printed above, in "
                    f"the captured stdout\n{summary[-6000:]}", pytrace=False)
