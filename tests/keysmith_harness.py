"""The one harness every Python test uses to run `keysmith serve`, and a few helpers (psql, the CLI).

`KeysmithServer` starts the server with `--port 0` (unless given a port), reads the port it really
listens on from its "Server started and listening on HOST:PORT" log line, waits for /healthz, parses
the one-time admin key banner from stdout, keeps stdout and stderr in files, and stops it.
"""

import itertools
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BIN = REPO / ".build" / "debug" / "keysmith"
UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}
ERROR_KEYS = {"statusCode", "message", "error"}

# Every keysmith process started during the current test, so that a failure can dump their logs.
LIVE_SERVERS: list["KeysmithServer"] = []


# --------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A port that was free a moment ago. Not for `keysmith serve` (it binds port 0, see KeysmithServer); for an
    address where nothing must listen."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    """The same PostgreSQL URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def psql(url: str, sql: str, timeout: float = 30) -> str:
    done = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql],
        capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"psql failed ({done.returncode}) for {sql!r}: {done.stderr.strip()}")
    return done.stdout.strip()


def tail(text: str, lines: int = 60, width: int = 400) -> str:
    return "\n".join(line[:width] for line in text.splitlines()[-lines:])


def condensed(text: str, lines: int = 40, width: int = 400) -> str:
    """The last lines of a log, consecutive lines that differ only by timestamp collapsed into one."""
    out: list[list] = []
    for line in text.splitlines():
        body = line.split(" ", 1)[1] if line[:4].isdigit() and " " in line else line
        if out and out[-1][1] == body:
            out[-1][2] += 1
        else:
            out.append([line, body, 1])
    return "\n".join(line[:width] + (f"   [repeated {n} times]" if n > 1 else "") for line, _, n in out[-lines:])


def keysmith_binary(wait: float = 600) -> str:
    """The server binary: $KEYSMITH_BIN (relative to the repository) or .build/debug/keysmith. Waits up to `wait`
    seconds while a build (the other engineer's `swift build`) has removed it or is still writing it."""
    path = Path(os.environ.get("KEYSMITH_BIN") or DEFAULT_BIN)
    if not path.is_absolute():
        path = REPO / path
    deadline = time.monotonic() + wait
    while True:
        if path.is_file() and os.access(path, os.X_OK) and time.time() - path.stat().st_mtime > 2:
            return str(path)
        if time.monotonic() > deadline:
            raise FileNotFoundError(f"keysmith binary not found at {path} (set KEYSMITH_BIN or run `swift build`)")
        time.sleep(1)


def run_cli(binary: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)


# Hummingbird's line once the socket is bound, e.g. "... [HummingbirdCore] Server started and listening on 127.0.0.1:33781"
LISTENING = re.compile(r"Server started and listening on (\S+):(\d+)\s*$", re.MULTILINE)
_LOG_NUMBERS = itertools.count(1)


class KeysmithServer:
    """One `keysmith serve` process; stdout and stderr go to files so a chatty process never blocks.

    Without `port`, the first start binds port 0 and the real port is read back from the server's log (no
    race for a "free" port); a later start() after stop() binds the port it had, so clients keep their URL.
    """

    def __init__(self, binary: str, database: str, name: str, log_dir: Path, port: int | None = None,
                 fixture: str | None = None, extra_args: list[str] | None = None):
        self.binary = binary
        self.extra_args = list(extra_args or [])  # more `keysmith serve` options
        self.fixture = fixture  # the shared fixture that owns this server; None for a test's own server
        self.database = database
        self.name = name
        self.port = port  # None until the server has said where it listens
        number = next(_LOG_NUMBERS)
        self.stdout_path = log_dir / f"{name}-{number}.stdout"
        self.stderr_path = log_dir / f"{name}-{number}.stderr"
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None
        self._stderr_offset = 0  # where this start's part of the (appended) stderr file begins
        self.session = requests.Session()

    @property
    def base(self) -> str:
        if self.port is None and self.listening_port() is None:
            raise AssertionError(f"{self.name}: not listening yet (call wait_healthy() first)")
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [self.binary, "serve", "--database", self.database, "--host", "127.0.0.1",
                "--port", str(self.port or 0), *self.extra_args]

    def start(self) -> "KeysmithServer":
        # No KEYSMITH_* setting of the caller's reaches the server, but the shared encryption key (conftest.py):
        # instances on one database need the same one, and PostgreSQL needs it given explicitly.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSMITH_") or k == "KEYSMITH_ENCRYPTION_KEY"}
        # Appended to, so that a restart keeps the earlier run's logs; this run's stderr starts at the offset.
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self._stderr_offset = self._err.tell()
        self.started_at = time.monotonic()
        # In the log folder, so that nothing the server writes beside itself lands in the repository.
        self.process = subprocess.Popen(self.command, stdout=self._out, stderr=self._err, env=env,
                                        stdin=subprocess.DEVNULL, cwd=self.stdout_path.parent)
        if self not in LIVE_SERVERS:
            LIVE_SERVERS.append(self)
        return self

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def listening_port(self) -> int | None:
        """The port this run of the server said it listens on (and remembers it), or None if it has not yet."""
        if self.process is None or not self.stderr_path.exists():
            return None
        with open(self.stderr_path, "rb") as f:
            f.seek(self._stderr_offset)
            match = LISTENING.search(f.read().decode(errors="replace"))
        if match is None:
            return None
        port = int(match.group(2))
        if self.port not in (None, port):
            raise AssertionError(f"{self.name}: started for port {self.port} but listens on {port}")
        self.port = port
        return port

    def wait_healthy(self, timeout: float = 30) -> None:
        """Waits for the listening line (the real port), then for /healthz to answer {"status": "ok"}."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name}: `{' '.join(self.command)}` exited with {self.process.returncode} before "
                    f"answering /healthz\nstderr:\n{tail(self.stderr())}")
            port = self.listening_port()
            if port is None:
                last = "no 'Server started and listening on' line in stderr yet"
                time.sleep(0.02)
                continue
            try:
                r = requests.get(self.base + "/healthz", timeout=1)
                if r.status_code == 200 and r.json() == {"status": "ok"}:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as error:
                last = repr(error)
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: /healthz not OK within {timeout}s (last: {last})\n"
                             f"stderr:\n{tail(self.stderr())}")

    def bootstrap_admin_token(self) -> str | None:
        """The admin key this server wrote when it created the first workspace: stdout is not a terminal here, so
        it is in a new file that the log names (never in the log itself). None when it has not."""
        match = BOOTSTRAP_KEY_FILE.search(self.stderr())
        if match is None:
            return None
        path = Path(match.group(1))
        if not path.is_absolute():
            path = self.stdout_path.parent / path  # the server's working directory
        try:
            return admin_token_from_banner(path.read_text())
        except OSError:
            return None

    def admin_token(self, timeout: float = 10) -> str | None:
        """The bootstrap admin key (see bootstrap_admin_token), waiting up to `timeout` seconds for it; None when
        this server did not create the first workspace."""
        deadline = time.monotonic() + timeout
        while True:
            token = self.bootstrap_admin_token()
            if token is not None or time.monotonic() > deadline:
                return token
            if self.process is not None and self.process.poll() is not None:
                return self.bootstrap_admin_token()
            time.sleep(0.05)

    def stop(self, grace: float = 10) -> str:
        """SIGTERM, then SIGKILL after `grace` seconds. Returns a note when the stop was not clean."""
        note = ""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                note = f"{self.name} did not exit within {grace}s of SIGTERM; killed"
                self.process.kill()
                self.process.wait(timeout=10)
        for handle in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if handle:
                handle.close()
        self.session.close()
        return note

    # HTTP helpers (on this instance's keep-alive session; use from one thread only).
    def request(self, method: str, path: str, token: str | None = None, body=None, timeout: float = 10,
                headers: dict | None = None) -> requests.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kwargs = {"json": body} if body is not None else {}
        return self.session.request(method, self.base + path, headers=headers, timeout=timeout, **kwargs)

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token, **kw)

    def post(self, path, body, token=None, **kw):
        return self.request("POST", path, token, body=body, **kw)

    def patch(self, path, body, token=None, **kw):
        return self.request("PATCH", path, token, body=body, **kw)

    def delete(self, path, token=None, **kw):
        return self.request("DELETE", path, token, **kw)


def start_together(servers: list[KeysmithServer]) -> None:
    """Starts every server from its own thread, released by one barrier: as close to the same moment as we can."""
    barrier = threading.Barrier(len(servers))
    errors = []

    def go(server):
        try:
            barrier.wait(timeout=10)
            server.start()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=go, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


BOOTSTRAP_KEY_FILE = re.compile(r"bootstrap_key_file=(\S+)")
ADMIN_BANNER = re.compile(r"Copy it now:\s*\n\s*\n\s+(\S+)\s*\n")


def admin_token_from_banner(stdout: str) -> str | None:
    match = ADMIN_BANNER.search(stdout)
    return match.group(1) if match else None


# --------------------------------------------------------------------------------------------- nginx

NGINX_CONF = REPO / "deploy" / "nginx" / "keysmith.conf"


def installed_binary(name: str, places: tuple[str, ...]) -> str | None:
    """`name` from PATH or one of `places`; when missing, scripts/setup.sh is asked to install it (it does so
    only as root or with sudo). None when there is still none."""
    import shutil

    def find():
        return shutil.which(name) or next((p for p in places if os.access(p, os.X_OK)), None)

    found = find()
    if found is None and os.environ.get("KEYSMITH_NO_SETUP") != "1":
        subprocess.run([str(REPO / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=900)
        found = find()
    return found


def nginx_binary() -> str | None:
    """nginx, installed when missing (`installed_binary`); see `nginx_lacks_auth_request` for its module."""
    return installed_binary("nginx", ("/usr/sbin/nginx", "/usr/local/sbin/nginx"))


def nginx_lacks_auth_request(binary: str) -> bool:
    done = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    return "http_auth_request_module" not in (done.stdout + done.stderr)


def templated_nginx_conf(keysmith_port: int, upstream_port: int, listen_port: int, text: str | None = None) -> str:
    """deploy/nginx/keysmith.conf with its three addresses replaced; fails if the file no longer has them."""
    text = NGINX_CONF.read_text() if text is None else text
    for old, new in (("server 127.0.0.1:8080;", f"server 127.0.0.1:{keysmith_port};"),
                     ("server 127.0.0.1:9000;", f"server 127.0.0.1:{upstream_port};"),
                     ("listen 8000;", f"listen 127.0.0.1:{listen_port};")):
        if text.count(old) != 1:
            raise AssertionError(f"{NGINX_CONF} should contain `{old}` exactly once (the test templates it)")
        text = text.replace(old, new)
    return text


def wait_until_listening(name: str, process: subprocess.Popen, port: int, timeout: float, log_tail) -> None:
    """Returns once something accepts connections on 127.0.0.1:`port`; fails, with `log_tail()`, when
    `process` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{name} did not listen on {port} within {timeout}s:\n{log_tail()}")


class NginxServer:
    """One nginx in the foreground (`daemon off`, one process: `master_process off`), as the current user, with
    everything (pid, logs, temporary files) in its own folder, serving `server_conf` inside `http { }`."""

    def __init__(self, binary: str, folder: Path, server_conf: str, listen_port: int):
        self.binary = binary
        self.folder = folder
        self.port = listen_port
        self.error_log = folder / "error.log"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "keysmith.conf").write_text(server_conf)
        temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (folder / "nginx.conf").write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {self.error_log} info;
events {{ worker_connections 512; }}
http {{
    access_log {folder / 'access.log'};
{temp}
    include {folder / 'keysmith.conf'};
}}
""")
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check_config(self) -> None:
        done = subprocess.run([self.binary, "-t", "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
                               "-e", str(self.error_log)], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise AssertionError(f"nginx -t refused the configuration:\n{done.stderr}")

    def start(self, timeout: float = 15) -> "NginxServer":
        self.check_config()
        self._out = open(self.folder / "nginx.stderr", "ab")
        self.process = subprocess.Popen([self.binary, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
                                         "-e", str(self.error_log)], stdout=self._out, stderr=self._out, stdin=subprocess.DEVNULL)
        wait_until_listening("nginx", self.process, self.port, timeout, self.log_tail)
        return self

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.error_log, self.folder / "nginx.stderr"):
            if path.exists():
                parts.append(f"--- {path.name}\n" + tail(path.read_text(errors="replace"), lines))
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish the requests in progress
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_out", None):
            self._out.close()


# --------------------------------------------------------------------------------------------- Caddy

CADDYFILE = REPO / "deploy" / "caddy" / "Caddyfile"


def caddy_binary() -> str | None:
    """caddy, installed when missing (`installed_binary`)."""
    return installed_binary("caddy", ("/usr/bin/caddy", "/usr/local/bin/caddy"))


class CaddyServer:
    """One `caddy run` in the foreground with a Caddyfile (deploy/caddy/Caddyfile unless given another), its
    addresses given through the environment placeholders the file reads: the site `:PORT` on 127.0.0.1, the admin
    API off, and KEYSMITH_ADDRESS / API_ADDRESS. HOME, XDG_DATA_HOME and XDG_CONFIG_HOME point into `folder`, so
    that Caddy writes nothing (its autosaved configuration, ~/.step, certificate storage) outside it."""

    def __init__(self, binary: str, folder: Path, listen_port: int, keysmith_address: str, api_address: str,
                 config: Path = CADDYFILE, env: dict | None = None):
        self.binary = binary
        self.folder = folder
        self.port = listen_port
        self.config = config
        self.log = folder / "caddy.log"
        folder.mkdir(parents=True, exist_ok=True)
        for sub in ("home", "data", "config"):
            (folder / sub).mkdir(exist_ok=True)
        # Nothing of the caller's Caddy or Keysmith settings reaches it: only what is set here.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("CADDY_", "KEYSMITH_", "XDG_")) and k not in ("API_ADDRESS", "HOME")}
        self.env.update({
            "HOME": str(folder / "home"),
            "XDG_DATA_HOME": str(folder / "data"),
            "XDG_CONFIG_HOME": str(folder / "config"),
            "CADDY_SITE": f":{listen_port}",
            "CADDY_BIND": "127.0.0.1",
            "CADDY_ADMIN": "off",
            "KEYSMITH_ADDRESS": keysmith_address,
            "API_ADDRESS": api_address,
            **(env or {}),
        })
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env if env is None else env, cwd=self.folder, stdin=subprocess.DEVNULL)

    def version(self) -> str:
        """`caddy version` (run in this server's environment too: any caddy command creates ~/.step)."""
        done = self._run("version", timeout=10)
        return (done.stdout or done.stderr).strip()

    def validate(self) -> str:
        """`caddy validate` of the file with this server's environment; its output, or an AssertionError."""
        done = self._run("validate", "--config", str(self.config), "--adapter", "caddyfile")
        if done.returncode != 0:
            raise AssertionError(f"caddy validate refused {self.config} ({done.returncode}):\n{tail(done.stdout + done.stderr)}")
        return done.stdout + done.stderr

    def adapt(self, unset: tuple[str, ...] = ()) -> dict:
        """The JSON configuration `caddy adapt` makes of the file with this server's environment, less the
        variables named in `unset` (which then take the file's defaults)."""
        import json

        env = {k: v for k, v in self.env.items() if k not in unset}
        done = self._run("adapt", "--config", str(self.config), "--adapter", "caddyfile", env=env)
        if done.returncode != 0:
            raise AssertionError(f"caddy adapt refused {self.config} ({done.returncode}):\n{tail(done.stderr)}")
        try:
            return json.loads(done.stdout)
        except ValueError as error:
            raise AssertionError(f"caddy adapt printed no JSON ({error}):\n{tail(done.stdout)}\n{tail(done.stderr)}")

    def start(self, timeout: float = 20) -> "CaddyServer":
        self._out = open(self.log, "ab")
        self.process = subprocess.Popen([self.binary, "run", "--config", str(self.config), "--adapter", "caddyfile"],
                                        stdout=self._out, stderr=self._out, stdin=subprocess.DEVNULL,
                                        env=self.env, cwd=self.folder)
        wait_until_listening("caddy", self.process, self.port, timeout, self.log_tail)
        return self

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "--- caddy.log: none"
        return f"--- {self.log}\n" + tail(self.log.read_text(errors="replace"), lines)

    def stop(self, grace: float = 10) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: Caddy finishes the requests in progress
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_out", None):
            self._out.close()
