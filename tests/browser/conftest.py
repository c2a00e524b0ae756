"""Browser-test harness for the Keysmith dashboard.

Starts the real `keysmith` binary on a fresh SQLite database and drives headless
Chromium against it with Selenium. Nothing is mocked.

Environment:
  KEYSMITH_BIN       path to the server binary (default: .build/debug/keysmith under the repo root)
  CHROMIUM_BIN       Chromium binary (default: /usr/bin/chromium if present)
  CHROMEDRIVER_BIN   chromedriver (default: /usr/bin/chromedriver if present)
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/, where the shared harness is
from keysmith_harness import REPO as REPO_ROOT, KeysmithServer, keysmith_binary  # noqa: E402

SCREENSHOTS = REPO_ROOT / "screenshots"
WAIT_SECONDS = 15


# ---------------------------------------------------------------------------
# Server


def _parse_single_json_object(stdout: str) -> dict:
    text = stdout.strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        # Be lenient so the suite can still run, but make the contract breach visible.
        candidates = [line for line in text.splitlines() if line.strip().startswith("{")]
        if not candidates:
            raise AssertionError(f"`workspace create --json` printed no JSON object on stdout:\n{stdout}")
        warnings.warn(f"`workspace create --json` printed more than one JSON object on stdout:\n{stdout}")
        obj = json.loads(candidates[-1])
    assert isinstance(obj, dict), f"expected a JSON object, got: {stdout!r}"
    return obj


@dataclass
class Keysmith:
    """A running keysmith server plus small API helpers (used to set up state fast)."""

    base_url: str
    admin_key: str
    workspace_id: str
    database: pathlib.Path
    log_path: pathlib.Path
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path: str, key: str | None = None, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"Bearer {key or self.admin_key}"
        return self.http.request(method, self.url(path), headers=headers, timeout=15, **kw)

    def whoami(self, key: str) -> requests.Response:
        return self.request("GET", "/v1/auth/whoami", key=key)

    def create_key(self, name: str, scope: str = "read", key: str | None = None, **extra) -> dict:
        r = self.request("POST", "/v1/api-keys", key=key, json={"name": name, "scope": scope, **extra})
        assert r.status_code == 201, f"create key failed: {r.status_code} {r.text}"
        body = r.json()
        assert body.get("secret"), body
        return body

    def get_key(self, key_id: str, search: str) -> dict | None:
        r = self.request("GET", "/v1/api-keys", params={"search": search, "include_revoked": "true", "limit": 100})
        assert r.status_code == 200, r.text
        return next((k for k in r.json()["data"] if k["id"] == key_id), None)

    def wait_for_last_used(self, key_id: str, search: str, timeout: float = 10) -> dict:
        """The server records key usage in the background (batched); wait until it is visible."""
        deadline = time.monotonic() + timeout
        while True:
            key = self.get_key(key_id, search)
            if key and key.get("last_used_at"):
                return key
            if time.monotonic() > deadline:
                raise AssertionError(f"last_used_at of {key_id} was never recorded: {key}")
            time.sleep(0.2)

    def list_total(self, **params) -> int:
        r = self.request("GET", "/v1/api-keys", params={"page": 1, "limit": 20, **params})
        assert r.status_code == 200, r.text
        return r.json()["meta"]["total"]

    def revoke(self, key_id: str) -> requests.Response:
        return self.request("DELETE", f"/v1/api-keys/{key_id}")


def create_workspace(binary: pathlib.Path, database: pathlib.Path, name: str = "Acme") -> dict:
    created = subprocess.run(
        [str(binary), "workspace", "create", name, "--database", str(database), "--json"],
        capture_output=True, text=True, timeout=120, cwd=database.parent,
    )
    assert created.returncode == 0, (
        f"`keysmith workspace create` failed ({created.returncode}):\n{created.stdout}\n{created.stderr}"
    )
    info = _parse_single_json_object(created.stdout)
    assert info.get("workspace_id") and info.get("secret"), f"missing workspace_id/secret in {info}"
    return info


def _start(tmp_path_factory, label: str) -> tuple[Keysmith, KeysmithServer]:
    """`keysmith serve` (the shared harness) on a fresh SQLite file with one workspace "Acme". The server can be
    stopped and started again: it comes back on the same port."""
    try:
        binary = pathlib.Path(keysmith_binary(wait=300))
    except FileNotFoundError as error:
        pytest.fail(str(error))
    workdir = tmp_path_factory.mktemp(label)
    database = workdir / "keysmith.sqlite"
    info = create_workspace(binary, database)
    # "browser ...": never taken for a fixture of the same name in tests/integration (its log dump on failure).
    server = KeysmithServer(str(binary), str(database), label, workdir, fixture=f"browser {label}")
    server.start()
    try:
        server.wait_healthy(timeout=90)
    except AssertionError:
        server.stop()
        raise
    ks = Keysmith(base_url=server.base, admin_key=info["secret"], workspace_id=info["workspace_id"],
                  database=database, log_path=server.stderr_path)
    return ks, server


@pytest.fixture(scope="session")
def keysmith(tmp_path_factory) -> Keysmith:
    """The shared server for most tests (one workspace "Acme"; tests keep their data apart by unique names)."""
    ks, server = _start(tmp_path_factory, "keysmith")
    try:
        yield ks
    finally:
        server.stop()


@pytest.fixture
def private_keysmith(tmp_path_factory) -> tuple[Keysmith, KeysmithServer]:
    """A server of the test's own, which the test may stop and start again."""
    ks, server = _start(tmp_path_factory, "private_keysmith")
    try:
        yield ks, server
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# Browser


def _chrome_options(width: int = 1280, height: int = 900) -> Options:
    opts = Options()
    chromium = os.environ.get("CHROMIUM_BIN") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if chromium:
        opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--lang=en-US", "--hide-scrollbars",
                "--disable-extensions", "--no-first-run", "--password-store=basic"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return opts


def _chromedriver_service() -> Service:
    path = os.environ.get("CHROMEDRIVER_BIN") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if path:
        return Service(executable_path=path)
    found = shutil.which("chromedriver")
    if found:
        return Service(executable_path=found)
    pytest.fail("chromedriver not found: install the Debian package chromium-driver or set CHROMEDRIVER_BIN")


@pytest.fixture
def driver():
    try:
        d = webdriver.Chrome(service=_chromedriver_service(), options=_chrome_options())
    except WebDriverException as exc:
        pytest.fail(f"could not start headless Chromium: {exc}")
    d.set_page_load_timeout(30)
    d.set_script_timeout(15)
    try:
        yield d
    finally:
        d.quit()


# ---------------------------------------------------------------------------
# Page helper


class Dashboard:
    """Thin page object over the dashboard's ids / data-testid attributes."""

    def __init__(self, driver, server: Keysmith):
        self.d = driver
        self.server = server

    # -- generic -----------------------------------------------------------
    def wait(self, predicate, message: str = "", timeout: float = WAIT_SECONDS):
        def safe(drv):
            try:
                return predicate(drv)
            except StaleElementReferenceException:
                return False
        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(safe, message)

    def by_id(self, element_id: str):
        return self.d.find_element(By.ID, element_id)

    def visible(self, element_id: str) -> bool:
        els = self.d.find_elements(By.ID, element_id)
        return bool(els) and els[0].is_displayed()

    def text(self, element_id: str) -> str:
        return self.d.execute_script("return document.getElementById(arguments[0]).textContent", element_id)

    def screenshot(self, name: str) -> pathlib.Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        assert self.d.save_screenshot(str(path)), f"screenshot {name} failed"
        return path

    def session_storage(self) -> dict:
        return self.d.execute_script(
            "const o = {}; for (let i = 0; i < sessionStorage.length; i++) {"
            " const k = sessionStorage.key(i); o[k] = sessionStorage.getItem(k); } return o;")

    def dialog_open(self, element_id: str) -> bool:
        return bool(self.d.execute_script("return document.getElementById(arguments[0]).open", element_id))

    def console_errors(self) -> list[dict]:
        return [e for e in self.d.get_log("browser") if e.get("level") == "SEVERE"]

    # -- navigation / session ------------------------------------------------
    def open(self, path: str = "/"):
        self.d.get(self.server.url(path))
        self.wait(lambda d: self.visible("signin-view") or self.visible("app-view"), "page did not boot")

    def sign_in(self, key: str | None = None, path: str = "/"):
        self.open(path)
        assert self.visible("signin-view"), "expected the sign-in form"
        field_ = self.by_id("signin-key")
        field_.clear()
        field_.send_keys(key or self.server.admin_key)
        field_.send_keys(Keys.ENTER)
        self.wait(lambda d: self.visible("app-view"), "sign-in did not reach the app")
        if self.visible("keys-panel"):
            self.wait_ready()

    def wait_ready(self):
        self.wait(lambda d: self.by_id("keys-panel").get_attribute("data-state") == "ready", "key list did not load")

    # -- key list ------------------------------------------------------------
    def rows(self) -> list[dict]:
        return self.d.execute_script("""
          return [...document.querySelectorAll('#keys-tbody tr[data-testid="key-row"]')].map(tr => {
            const q = (s) => tr.querySelector(s);
            const lu = q('[data-testid="key-last-used"]');
            return {
              id: tr.dataset.keyId,
              name: q('[data-testid="key-name"]') ? q('[data-testid="key-name"]').textContent : null,
              scope: q('[data-testid="key-scope"]') ? q('[data-testid="key-scope"]').textContent : null,
              badges: [...tr.querySelectorAll('.badge[data-testid]')].map(b => b.dataset.testid),
              lastUsed: lu ? lu.textContent : null,
              lastUsedTitle: lu ? lu.getAttribute('title') : null,
              lastUsedDatetime: lu ? lu.getAttribute('datetime') : null,
              hasRevoke: !!q('[data-testid="revoke-button"]'),
              hasRename: !!q('[data-testid="rename-button"]'),
            };
          });""")

    def row_ids(self) -> list[str]:
        return [r["id"] for r in self.rows()]

    def row(self, key_id: str):
        return self.d.find_element(By.CSS_SELECTOR, f'#keys-tbody tr[data-key-id="{key_id}"]')

    def search(self, text: str):
        box = self.by_id("key-search")
        box.clear()
        if text:
            box.send_keys(text)
        else:
            box.send_keys(" ", Keys.BACKSPACE)

    def shown(self, search: str | None = None, filters: str | None = None, page: int | None = None) -> bool:
        """True once the table shows finished results for this search / filter set / page."""
        panel = self.by_id("keys-panel")
        return (panel.get_attribute("data-state") == "ready"
                and (search is None or panel.get_attribute("data-search") == search.strip())
                and (filters is None or panel.get_attribute("data-filters") == filters)
                and (page is None or panel.get_attribute("data-page") == str(page)))

    def search_and_wait(self, text: str, expected_ids: list[str]):
        self.search(text)
        self.wait(lambda d: self.shown(search=text) and self.row_ids() == expected_ids,
                  f"rows for search {text!r} never became {expected_ids}; got {self.row_ids()}")

    def summary(self) -> str:
        return self.text("pagination-summary")


def _is_script_problem(message: str) -> bool:
    return any(marker in message for marker in ("Uncaught", "Content Security Policy", "Refused to"))


@pytest.fixture
def dash(driver, keysmith) -> Dashboard:
    page = Dashboard(driver, keysmith)
    yield page
    # Every test also checks that the page threw no script errors and broke no CSP rule.
    problems = [e["message"] for e in page.console_errors() if _is_script_problem(e["message"])]
    assert problems == [], f"browser console reported script errors / CSP violations: {problems}"


@pytest.fixture
def unique() -> str:
    """A short unique token to keep test data apart in the shared workspace."""
    return uuid.uuid4().hex[:10]
