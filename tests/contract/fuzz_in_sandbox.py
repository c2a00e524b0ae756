"""Runs schemathesis against a live `keysmith serve`, both inside one network namespace.

Started by test_contract.py through `unshare --net --mount` (see there); not meant to be run on its own.
Inside the namespace only loopback exists, so nothing the server does (webhook deliveries included) can
leave the machine. `example.com` resolves, through a private /etc/hosts, to a public address bound to
that loopback: the server accepts it as a public webhook target (it is started WITHOUT
--allow-private-webhook-targets), and its deliveries go nowhere. Every other name fails to resolve.

Exit code: schemathesis's, or 3 when the sandbox or the server could not be set up, or 4 when the run
ended with the server dead or the admin key unusable.
"""

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, where the shared harness is
from keysmith_harness import REPO, KeysmithServer, condensed  # noqa: E402

SANDBOX_PUBLIC_ADDRESS = "93.184.215.14"  # bound to the namespace's loopback; public to the server's policy
DOCUMENT = REPO / "Sources" / "Keysmith" / "HTTP" / "openapi.yaml"


def sh(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sandbox: `{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def set_up_sandbox(work: Path) -> None:
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "addr", "add", f"{SANDBOX_PUBLIC_ADDRESS}/32", "dev", "lo")
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n::1 localhost\n{SANDBOX_PUBLIC_ADDRESS} example.com\n")
    resolv = work / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    sh("mount", "--bind", str(hosts), "/etc/hosts")
    sh("mount", "--bind", str(resolv), "/etc/resolv.conf")
    # The guarantee that nothing leaves: loopback is the only interface and there is no route elsewhere.
    links = [line.split(":")[1].strip() for line in sh("ip", "-o", "link").splitlines() if line.strip()]
    if links != ["lo"]:
        raise SystemExit(f"sandbox: expected only the loopback interface, found {links}")


# The server's key for sealed webhook secrets; the harness passes this one variable on to the server.
os.environ.setdefault("KEYSMITH_ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())


def delete_webhooks(server: KeysmithServer, token: str) -> int:
    deleted = 0
    while True:
        page = server.get("/v1/webhooks?limit=100", token)
        page.raise_for_status()
        ids = [endpoint["id"] for endpoint in page.json()["data"]]
        if not ids:
            return deleted
        for id in ids:
            server.delete(f"/v1/webhooks/{id}", token).raise_for_status()
            deleted += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--report-dir", required=True)
    parser.add_argument("--schemathesis", default="schemathesis")
    parser.add_argument("--config", default=str(HERE / "schemathesis.toml"))
    parser.add_argument("extra", nargs="*", help="more `schemathesis run` arguments")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="keysmith-contract.") as tmp:
        work = Path(tmp)
        set_up_sandbox(work)
        # One workspace takes every request of the run, as fast as schemathesis sends them: its per-workspace
        # management budget (tested on its own in the Swift suite) is lifted so that the contract is what is judged.
        server = KeysmithServer(str(Path(args.binary).resolve()), str(work / "keysmith.sqlite"), "contract", work,
                                extra_args=["--management-requests-per-second", "1000000"])
        server.start()
        try:
            server.wait_healthy(timeout=60)
            token = server.admin_token(timeout=10)
            if token is None:
                print(f"no admin key in the server's stdout:\n{server.stdout()}")
                return 3
            env = dict(os.environ, KEYSMITH_FUZZ_ADMIN_TOKEN=token, KEYSMITH_FUZZ_ADMIN_KEY_ID=token.split(":")[0],
                       SCHEMATHESIS_HOOKS=str(HERE / "schemathesis_hooks.py"))
            rc = 0
            # Two runs on one server: the stateless phases, then the stateful one. In between, the endpoints
            # the first registered are deleted, so that the workspace's quota of 20 leaves the stateful phase
            # room to create endpoints and follow their links.
            # The coverage phase (boundary cases of every schema, about two minutes) runs in the deep run only
            # (scripts/fuzz.sh sets KEYSMITH_CONTRACT_PHASES); examples and fuzzing reach every operation.
            stateless = os.environ.get("KEYSMITH_CONTRACT_PHASES", "examples,fuzzing")
            for name, phases in (("stateless", stateless), ("stateful", "stateful")):
                command = [args.schemathesis, "--config-file", args.config, "--no-color", "run",
                           # All checks but use_after_free: a revoked key and its usage stay readable
                           # (documented), and the command line's --checks outranks schemathesis.toml.
                           str(DOCUMENT), "--url", server.base, "--checks", "all", "--exclude-checks", "use_after_free",
                           "--phases", phases,
                           "--report", "junit,ndjson", "--report-dir", str(Path(args.report_dir) / name), *args.extra]
                print("$ " + " ".join(command), flush=True)
                started = time.monotonic()
                code = subprocess.run(command, env=env).returncode
                print(f"schemathesis ({name}) exited {code} after {time.monotonic() - started:.0f} s", flush=True)
                rc = rc or code
                if name == "stateless":
                    print(f"deleted {delete_webhooks(server, token)} webhook endpoints", flush=True)

            # The run must leave the server up and the admin key working; otherwise its results mean little.
            alive = server.process.poll() is None
            whoami = server.get("/v1/auth/whoami", token).status_code if alive else None
            if not alive or whoami != 200:
                print(f"after the run: server {'alive' if alive else 'DEAD'}, whoami with the admin key: {whoami}")
                print(condensed(server.stderr(), lines=80))
                return 4
            errors = [line for line in server.stderr().splitlines() if "error" in line.lower()]
            if errors:
                print(f"server logged {len(errors)} error lines; the last ones:")
                print("\n".join(line[:400] for line in errors[-20:]))
            return rc
        finally:
            note = server.stop()
            if note:
                print(note)


if __name__ == "__main__":
    sys.exit(main())
