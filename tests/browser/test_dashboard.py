"""End-to-end tests of Settings › API Keys against the real keysmith server in headless Chromium."""

from __future__ import annotations

import datetime as dt
import html.parser
import http.client
import json
import pathlib
import re
import time

import pytest
from conftest import Dashboard, _is_script_problem
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

SECRET_RE = re.compile(r"^[a-z0-9]+:ks_[A-Za-z0-9]{38}$")
UNAUTHORIZED_BODY = {"statusCode": 401, "message": "Unauthorized", "error": "Unauthorized"}
REJECTED_MESSAGE = "Your key was rejected or revoked. Sign in again."


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_no_alert(driver):
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - accessing .text is what raises


def open_create_dialog(dash):
    dash.by_id("create-key-button").click()
    dash.wait(lambda d: dash.dialog_open("create-dialog"), "create dialog did not open")


def create_key_in_ui(dash, name, description="", scope=None):
    open_create_dialog(dash)
    dash.by_id("create-name").send_keys(name)
    if description:
        dash.by_id("create-description").send_keys(description)
    if scope:
        dash.d.execute_script("document.getElementById('create-scope').value = arguments[0]", scope)
    dash.by_id("create-submit").click()
    dash.wait(lambda d: dash.dialog_open("secret-dialog"), "secret dialog did not open")
    secret = dash.text("secret-value")
    return secret


def close_secret_dialog(dash):
    dash.by_id("secret-done").click()
    dash.wait(lambda d: not dash.dialog_open("secret-dialog"), "secret dialog did not close")
    dash.wait_ready()


# ---------------------------------------------------------------------------
# Serving


class _InlineFinder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "style" in a:
            self.problems.append(f"style attribute on <{tag}>")
        if any(k.startswith("on") for k in a):
            self.problems.append(f"inline event handler on <{tag}>")
        if tag == "script" and "src" not in a:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style>")
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v.startswith("http://") or v.startswith("https://") or v.startswith("//"):
                self.problems.append(f"external resource {v}")


def test_server_serves_dashboard_with_csp(keysmith):
    r = keysmith.http.get(keysmith.url("/"), allow_redirects=False, timeout=10)
    assert r.status_code == 302, f"GET / should be a 302 redirect, got {r.status_code}"
    assert r.headers["Location"].endswith("/settings/api-keys")

    pages = {}
    for path in ("/settings/api-keys", "/settings/webhooks", "/settings/audit-log"):
        r = keysmith.http.get(keysmith.url(path), timeout=10)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith("text/html"), path
        csp = r.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "default-src 'none'" in csp, csp
        pages[path] = r.text
    assert pages["/settings/api-keys"] == pages["/settings/webhooks"] == pages["/settings/audit-log"]
    assert '<script type="module" src="/assets/main.js"></script>' in pages["/settings/api-keys"]

    finder = _InlineFinder()
    finder.feed(pages["/settings/api-keys"])
    assert finder.problems == []

    for asset, ctype in (("main.js", "javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        r = keysmith.http.get(keysmith.url(f"/assets/{asset}"), timeout=10)
        assert r.status_code == 200, asset
        assert ctype in r.headers.get("Content-Type", ""), (asset, r.headers.get("Content-Type"))

    # The script is split into ES modules (main.js imports the rest): check every one of them.
    public = pathlib.Path(__file__).resolve().parents[2] / "Sources/Keysmith/Dashboard/Public"
    modules = sorted(p.name for p in public.glob("*.js"))
    assert "main.js" in modules
    for name in modules:
        js = keysmith.http.get(keysmith.url(f"/assets/{name}"), timeout=10).text
        assert "innerHTML" not in js and "eval(" not in js and "localStorage" not in js, name


CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _raw_get(keysmith, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    """The path exactly as written: no client normalises `..` or percent escapes away."""
    host, port = keysmith.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_dashboard_headers_and_unknown_files(keysmith):
    """Every page and asset carries the same security and cache headers; anything else is the API's own 404."""
    for path, ctype in (("/settings/api-keys", "text/html; charset=utf-8"), ("/settings/webhooks", "text/html; charset=utf-8"),
                        ("/settings/audit-log", "text/html; charset=utf-8"),
                        ("/assets/main.js", "text/javascript; charset=utf-8"), ("/assets/pager.js", "text/javascript; charset=utf-8"),
                        ("/assets/app.css", "text/css; charset=utf-8"), ("/assets/favicon.svg", "image/svg+xml")):
        status, headers, _ = _raw_get(keysmith, path)
        assert status == 200, path
        assert headers.get("content-type") == ctype, (path, headers)
        assert headers.get("content-security-policy") == CSP, (path, headers)
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "no-referrer", path
        assert headers.get("cache-control") == "no-cache", path

    for path in ("/assets/nope.js", "/assets/app.js", "/assets/../Package.swift", "/assets/%2e%2e/Package.swift",
                 "/assets/%2e%2e%2fPackage.swift", "/assets/..%2fPackage.swift", "/assets/.", "/assets/%2e",
                 "/assets/.%2e", "/assets/", "/assets/sub/x.js"):
        status, headers, body = _raw_get(keysmith, path)
        assert status == 404, (path, status, body[:200])
        error = json.loads(body)
        assert error["statusCode"] == 404 and error["error"] == "Not Found" and error["message"], (path, error)
        assert "content-security-policy" not in headers, path

    # The API keeps its own answers: files never stand in for /v1 routes.
    status, _, body = _raw_get(keysmith, "/v1/nothing")
    assert status == 404 and json.loads(body)["message"] == "no route for GET /v1/nothing"
    status, headers, _ = _raw_get(keysmith, "/v1/api-keys")
    assert status == 401 and "content-security-policy" not in headers
    status, headers, _ = _raw_get(keysmith, "/assets/main.js", method="POST")
    assert status == 405 and headers.get("allow") == "GET, HEAD"


def test_served_assets_match_the_sources(keysmith):
    """The server embeds Public/ at build time: a stale binary would test an old page."""
    public = pathlib.Path(__file__).resolve().parents[2] / "Sources/Keysmith/Dashboard/Public"
    names = sorted(p.name for p in public.iterdir() if p.is_file())
    assert {"index.html", "main.js", "app.css"} <= set(names)
    stale = []
    for name in names:
        r = keysmith.http.get(keysmith.url(f"/assets/{name}"), timeout=10)
        assert r.status_code == 200, name
        if r.content != (public / name).read_bytes():
            stale.append(name)
    assert stale == [], f"the keysmith binary serves outdated copies of {stale}: rebuild it (swift build)"


# ---------------------------------------------------------------------------
# Sign-in / sign-out


def test_sign_in_lists_keys_and_marks_this_key(dash, keysmith):
    dash.open("/")
    assert dash.d.current_url.endswith("/settings/api-keys")
    assert dash.visible("signin-view") and not dash.visible("app-view")
    dash.screenshot("01-sign-in.png")

    me = keysmith.whoami(keysmith.admin_key).json()
    keysmith.wait_for_last_used(me["key"]["id"], me["key"]["name"])
    dash.sign_in()
    assert dash.text("workspace-name") == me["workspace"]["name"] == "Acme"
    assert dash.by_id("tab-api-keys").get_attribute("aria-current") == "page"

    # The key in use is in sessionStorage only: not in the URL, cookies or localStorage.
    assert list(dash.session_storage().values()) == [keysmith.admin_key]
    assert dash.d.execute_script("return localStorage.length") == 0
    assert dash.d.execute_script("return document.cookie") == ""
    assert keysmith.admin_key.split(":")[1] not in dash.d.current_url
    assert keysmith.admin_key.split(":")[1] not in dash.d.page_source

    dash.search(me["key"]["name"])
    dash.wait(lambda d: me["key"]["id"] in dash.row_ids(), "the signed-in key is not listed")
    row = next(r for r in dash.rows() if r["id"] == me["key"]["id"])
    assert "this-key-badge" in row["badges"]
    assert row["scope"] == "admin"
    assert "badge-active" in row["badges"]
    # Its last use is "now": relative text, exact ISO timestamp on hover.
    assert row["lastUsed"] in ("just now",) or row["lastUsed"].endswith("ago")
    assert row["lastUsedTitle"] == row["lastUsedDatetime"]
    parse_iso(row["lastUsedTitle"])


def test_rejects_bad_and_non_admin_keys(dash, keysmith, unique):
    dash.open("/settings/api-keys")
    key_id = keysmith.admin_key.split(":")[0]
    field = dash.by_id("signin-key")
    field.send_keys(f"{key_id}:ks_{'x' * 38}", Keys.ENTER)
    dash.wait(lambda d: dash.visible("signin-message"), "no error for a wrong secret")
    assert "rejected" in dash.text("signin-message")
    assert dash.visible("signin-view") and not dash.visible("app-view")
    assert dash.session_storage() == {}

    reader = keysmith.create_key(f"reader-{unique}", scope="read")
    field = dash.by_id("signin-key")
    field.clear()
    field.send_keys(reader["secret"], Keys.ENTER)
    dash.wait(lambda d: "cannot manage keys" in dash.text("signin-message"), "non-admin key was not refused")
    assert not dash.visible("app-view")
    assert dash.session_storage() == {}


def test_sign_out_forgets_the_key(dash, keysmith):
    dash.sign_in()
    assert dash.session_storage() != {}
    dash.by_id("signout-button").click()
    dash.wait(lambda d: dash.visible("signin-view"), "sign out did not show the sign-in form")
    assert not dash.visible("app-view")
    assert dash.session_storage() == {}
    assert dash.d.execute_script("return sessionStorage.length") == 0
    assert keysmith.admin_key.split(":")[1] not in dash.d.page_source
    # A reload stays signed out.
    dash.d.refresh()
    dash.wait(lambda d: dash.visible("signin-view"), "reload after sign-out did not show the sign-in form")
    assert not dash.visible("app-view")


def test_key_revoked_elsewhere_returns_to_sign_in(dash, keysmith, unique):
    other = keysmith.create_key(f"session-{unique}", scope="admin")
    dash.sign_in(other["secret"])
    assert list(dash.session_storage().values()) == [other["secret"]]

    assert keysmith.revoke(other["id"]).status_code == 200
    dash.by_id("refresh-button").click()  # any API call now gets 401
    dash.wait(lambda d: dash.visible("signin-view"), "401 did not return to the sign-in form")
    assert dash.text("signin-message") == REJECTED_MESSAGE
    assert dash.session_storage() == {}
    assert not dash.visible("app-view")
    dash.screenshot("08-key-rejected.png")

    # Same on a fresh page load with a stored key that has since been revoked.
    second = keysmith.create_key(f"session2-{unique}", scope="admin")
    dash.sign_in(second["secret"])
    assert keysmith.revoke(second["id"]).status_code == 200
    dash.d.refresh()
    dash.wait(lambda d: dash.visible("signin-view") and dash.text("signin-message") == REJECTED_MESSAGE,
              "reload with a revoked key did not show the message")
    assert dash.session_storage() == {}


# ---------------------------------------------------------------------------
# Create


def test_create_key_shows_secret_once_and_it_works(dash, keysmith, unique):
    dash.sign_in()
    name = f"Production Server {unique}"
    open_create_dialog(dash)
    assert dash.by_id("create-scope").get_attribute("value") == "read"  # default scope
    dash.by_id("create-name").send_keys(name)
    dash.by_id("create-description").send_keys("Deploys from CI")
    dash.d.execute_script("document.getElementById('create-scope').value = 'read-write'")
    # Pick an expiry 30 days out through the datetime-local control; the page must send it as UTC.
    expected_expiry = dash.d.execute_script("""
        const d = new Date(Date.now() + 30 * 86400e3); d.setSeconds(0, 0);
        const p = (n) => String(n).padStart(2, '0');
        const v = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
        const input = document.getElementById('create-expires');
        input.value = v; input.dispatchEvent(new Event('input', {bubbles: true}));
        return d.toISOString();""")
    dash.by_id("create-submit").click()
    dash.wait(lambda d: dash.dialog_open("secret-dialog"), "secret dialog did not open")

    secret = dash.text("secret-value")
    assert SECRET_RE.match(secret), secret
    assert "This secret will not be shown again" in dash.text("secret-warning")
    assert not dash.dialog_open("create-dialog")
    dash.screenshot("03-secret-dialog.png")

    # The dialog survives Escape and a click on the backdrop.
    ActionChains(dash.d).send_keys(Keys.ESCAPE).perform()
    ActionChains(dash.d).send_keys(Keys.ESCAPE).perform()
    backdrop_click = ActionBuilder(dash.d)
    backdrop_click.pointer_action.move_to_location(5, 5).click()
    backdrop_click.perform()
    assert dash.dialog_open("secret-dialog")
    assert dash.text("secret-value") == secret

    # Copy gives feedback (clipboard API or select-and-copy fallback).
    dash.by_id("secret-copy").click()
    dash.wait(lambda d: dash.text("secret-copy-status") != "", "copy gave no feedback")

    # The secret is a working bearer token for the new key.
    who = keysmith.whoami(secret)
    assert who.status_code == 200, who.text
    key = who.json()["key"]
    assert key["name"] == name
    assert key["scope"] == "read-write"
    assert key["description"] == "Deploys from CI"
    assert key["expires_at"] is not None
    assert abs((parse_iso(key["expires_at"]) - parse_iso(expected_expiry)).total_seconds()) < 2

    close_secret_dialog(dash)
    assert secret not in dash.d.page_source
    assert secret.split(":")[1] not in dash.d.execute_script("return document.documentElement.outerHTML")
    assert dash.text("secret-value") == ""

    # Newest first: the new key heads the list.
    dash.wait(lambda d: dash.shown(search="", page=1) and dash.row_ids()[:1] == [key["id"]],
              f"new key not at the top: {dash.row_ids()[:3]}")
    rows = dash.rows()
    assert rows[0]["name"] == name
    assert rows[0]["scope"] == "read-write"


def test_create_key_form_errors(dash, keysmith, unique):
    dash.sign_in()
    open_create_dialog(dash)
    # Client-side: a blank name is refused without a request.
    dash.by_id("create-name").send_keys("   ")
    dash.by_id("create-submit").click()
    dash.wait(lambda d: dash.visible("create-error"), "blank name gave no error")
    assert "Name is required" in dash.text("create-error")
    assert dash.dialog_open("create-dialog")

    # Server-side: an expiry in the past is rejected with a 400 whose message the form shows.
    name = f"past-expiry-{unique}"
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    api = keysmith.request("POST", "/v1/api-keys", json={"name": name, "expires_at": past})
    assert api.status_code == 400, f"server accepted a past expiry: {api.status_code} {api.text}"
    expected_message = api.json()["message"]
    field = dash.by_id("create-name")
    field.clear()
    field.send_keys(name)
    dash.d.execute_script("""
        const d = new Date(Date.now() - 2 * 86400e3);
        const p = (n) => String(n).padStart(2, '0');
        document.getElementById('create-expires').value =
          `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;""")
    dash.by_id("create-submit").click()
    dash.wait(lambda d: dash.text("create-error") == expected_message, "server error message not shown in the form")
    assert dash.dialog_open("create-dialog")
    assert not dash.dialog_open("secret-dialog")
    assert keysmith.list_total(search=name) == 0

    dash.by_id("create-cancel").click()
    dash.wait(lambda d: not dash.dialog_open("create-dialog"), "cancel did not close the dialog")


def test_create_and_finish_with_keyboard_only(dash, keysmith, unique):
    dash.sign_in()
    dash.by_id("create-key-button").send_keys(Keys.ENTER)
    dash.wait(lambda d: dash.dialog_open("create-dialog"), "Enter on the button did not open the dialog")
    active = lambda: dash.d.execute_script("return document.activeElement && document.activeElement.id")  # noqa: E731
    assert active() == "create-name"
    ActionChains(dash.d).send_keys(f"keyboard-{unique}", Keys.ENTER).perform()
    dash.wait(lambda d: dash.dialog_open("secret-dialog"), "Enter did not submit the form")
    secret = dash.text("secret-value")
    assert SECRET_RE.match(secret)
    assert active() == "secret-copy"
    ActionChains(dash.d).send_keys(Keys.TAB).perform()
    assert active() in ("secret-value", "secret-done")
    while active() != "secret-done":
        ActionChains(dash.d).send_keys(Keys.TAB).perform()
    ActionChains(dash.d).send_keys(Keys.ENTER).perform()
    dash.wait(lambda d: not dash.dialog_open("secret-dialog"), "Enter on Done did not close the dialog")
    assert active() == "create-key-button"  # focus goes back where it came from
    assert secret not in dash.d.page_source
    who = keysmith.whoami(secret).json()["key"]
    assert who["name"] == f"keyboard-{unique}" and who["scope"] == "read"


# ---------------------------------------------------------------------------
# XSS


def test_hostile_names_render_as_text(dash, keysmith, unique):
    dash.sign_in()
    name = f"<img src=x onerror=alert(1)> {unique}"
    description = "<script>window.__pwned = 1</script><b>bold</b>"
    secret = create_key_in_ui(dash, name, description)
    assert SECRET_RE.match(secret)
    close_secret_dialog(dash)

    dash.search_and_wait(unique, [keysmith.whoami(secret).json()["key"]["id"]])
    row = dash.rows()[0]
    assert row["name"] == name
    tbody = dash.by_id("keys-tbody")
    assert tbody.find_elements(By.TAG_NAME, "img") == []
    assert tbody.find_elements(By.TAG_NAME, "script") == []
    assert tbody.find_elements(By.TAG_NAME, "b") == []
    desc = tbody.find_element(By.CSS_SELECTOR, '[data-testid="key-description"]')
    assert desc.text == description
    assert dash.d.execute_script("return window.__pwned") is None
    assert_no_alert(dash.d)

    # The revoke confirmation names it literally too.
    dash.row(row["id"]).find_element(By.CSS_SELECTOR, '[data-testid="revoke-button"]').click()
    dash.wait(lambda d: dash.dialog_open("revoke-dialog"), "revoke dialog did not open")
    assert dash.text("revoke-message") == f"Revoke '{name}'? Requests using it will fail immediately."
    assert dash.by_id("revoke-dialog").find_elements(By.TAG_NAME, "img") == []
    dash.by_id("revoke-cancel").click()
    assert_no_alert(dash.d)


# ---------------------------------------------------------------------------
# Rename


def test_rename_in_place(dash, keysmith, unique):
    created = keysmith.create_key(f"rename-me-{unique}")
    dash.sign_in()
    dash.search_and_wait(unique, [created["id"]])

    # Escape cancels without saving.
    dash.row(created["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rename-button"]').click()
    field = dash.wait(lambda d: dash.row(created["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rename-input"]'))
    assert field.get_attribute("value") == created["name"]
    assert dash.d.switch_to.active_element == field
    field.send_keys(" something else")
    field.send_keys(Keys.ESCAPE)
    dash.wait(lambda d: not dash.row(created["id"]).find_elements(By.CSS_SELECTOR, '[data-testid="rename-input"]'))
    assert dash.rows()[0]["name"] == created["name"]
    assert keysmith.get_key(created["id"], unique)["name"] == created["name"]
    assert dash.dialog_open("create-dialog") is False

    # An empty name is refused inline.
    dash.row(created["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rename-button"]').click()
    field = dash.row(created["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rename-input"]')
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(Keys.ENTER)
    dash.wait(lambda d: dash.row(created["id"]).find_element(By.CSS_SELECTOR, '[data-testid="rename-error"]').is_displayed())
    assert keysmith.get_key(created["id"], unique)["name"] == created["name"]

    # Enter saves.
    new_name = f"renamed-{unique}"
    field.send_keys(new_name, Keys.ENTER)
    dash.wait(lambda d: dash.rows()[0]["name"] == new_name and
              not dash.d.find_elements(By.CSS_SELECTOR, '[data-testid="rename-input"]'), "rename did not save")
    assert keysmith.get_key(created["id"], unique)["name"] == new_name
    # And it sticks after a reload of the list.
    dash.by_id("refresh-button").click()
    dash.wait(lambda d: dash.rows() and dash.rows()[0]["name"] == new_name)


def test_access_rules_on_create_and_edit(dash, keysmith, unique):
    """Permissions, rate limit and allowed IPs: set in the create dialog, shown in the row, changed and
    cleared in the access dialog, refused with the server's message, and what the API then returns."""
    dash.sign_in()
    name = f"gateway {unique}"
    open_create_dialog(dash)
    assert dash.by_id("create-permissions").get_attribute("placeholder") == "*"  # this key's: the default
    dash.by_id("create-name").send_keys(name)
    dash.by_id("create-permissions").send_keys("calls.read, agents.*")
    dash.by_id("create-rate-limit").send_keys("100")
    dash.by_id("create-rate-window").send_keys("60")
    dash.by_id("create-allowed-ips").send_keys("203.0.113.7/24\n2001:db8::/32")
    dash.by_id("create-submit").click()
    dash.wait(lambda d: dash.dialog_open("secret-dialog"), "secret dialog did not open")
    key = keysmith.whoami(dash.text("secret-value"))
    assert key.status_code == 403, "the new key may be used only from its allowed addresses"
    close_secret_dialog(dash)
    created = keysmith.request("GET", "/v1/api-keys", params={"search": unique}).json()["data"][0]
    assert created["permissions"] == ["calls.read", "agents.*"]
    assert created["rate_limit"] == {"limit": 100, "window_seconds": 60}
    assert created["allowed_ips"] == ["203.0.113.0/24", "2001:db8::/32"]

    dash.search_and_wait(unique, [created["id"]])
    row = dash.row(created["id"])
    assert row.find_element(By.CSS_SELECTOR, '[data-testid="key-permissions"]').text == "calls.read, agents.*"
    assert row.find_element(By.CSS_SELECTOR, '[data-testid="key-rate-limit"]').text == "100 requests / 60 s"
    assert "203.0.113.0/24" in row.find_element(By.CSS_SELECTOR, '[data-testid="key-allowed-ips"]').text

    # Edit: the dialog opens with the key's rules; a bad address is refused with the server's message.
    row.find_element(By.CSS_SELECTOR, '[data-testid="access-button"]').click()
    dash.wait(lambda d: dash.dialog_open("access-dialog"), "access dialog did not open")
    assert dash.by_id("access-permissions").get_attribute("value") == "calls.read, agents.*"
    assert dash.by_id("access-rate-limit").get_attribute("value") == "100"
    ips = dash.by_id("access-allowed-ips")
    ips.clear()
    ips.send_keys("not-an-address")
    dash.by_id("access-submit").click()
    dash.wait(lambda d: dash.visible("access-error"), "no error for a bad address")
    assert "allowed_ips" in dash.text("access-error")
    assert keysmith.get_key(created["id"], unique)["allowed_ips"] == ["203.0.113.0/24", "2001:db8::/32"]

    # Clear the limit and the addresses, narrow the permissions.
    ips.clear()
    dash.by_id("access-rate-limit").clear()
    dash.by_id("access-rate-window").clear()
    permissions = dash.by_id("access-permissions")
    permissions.clear()
    permissions.send_keys("calls.read")
    dash.by_id("access-submit").click()
    dash.wait(lambda d: not dash.dialog_open("access-dialog"), "access dialog did not close")
    dash.wait(lambda d: dash.row(created["id"]).find_element(By.CSS_SELECTOR, '[data-testid="key-permissions"]').text == "calls.read")
    assert not dash.row(created["id"]).find_elements(By.CSS_SELECTOR, '[data-testid="key-rate-limit"]')
    saved = keysmith.get_key(created["id"], unique)
    assert saved["permissions"] == ["calls.read"] and saved["rate_limit"] is None and saved["allowed_ips"] is None


# ---------------------------------------------------------------------------
# Search and pagination


def test_search_is_debounced_partial_and_case_insensitive(dash, keysmith, unique):
    alpha = keysmith.create_key(f"Search-{unique}-Alpha")
    beta = keysmith.create_key(f"search-{unique}-beta")
    gamma = keysmith.create_key(f"other-{unique}-gamma")
    dash.sign_in()

    dash.d.execute_script("performance.clearResourceTimings()")
    dash.search_and_wait(f"SEARCH-{unique.upper()}", [beta["id"], alpha["id"]])  # newest first
    assert dash.summary() == "1–2 of 2"
    # Typing the whole term sent a single request (debounced), not one per keystroke.
    searches = dash.d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.includes('/v1/api-keys?') && n.includes('search='))")
    assert len(searches) == 1, searches
    dash.search_and_wait(f"{unique}-ALP", [alpha["id"]])
    assert dash.summary() == "1–1 of 1"
    dash.search_and_wait(unique, [gamma["id"], beta["id"], alpha["id"]])

    dash.search_and_wait(f"nothing-matches-{unique}", [])
    assert dash.visible("keys-no-results")
    assert not dash.visible("keys-empty")
    assert not dash.visible("keys-table")
    dash.by_id("clear-filters").click()
    dash.wait(lambda d: dash.shown(search="", filters="") and len(dash.rows()) > 0)
    assert dash.by_id("key-search").get_attribute("value") == ""


def test_search_for_a_two_word_name(driver, private_keysmith):
    """Typing `Production Server` lists exactly that key. The page sends the space as `+` (URLSearchParams),
    which the server must read as a space (application/x-www-form-urlencoded), as it does `%20`."""
    api, _ = private_keysmith  # a workspace of its own: no other test's "Production Server" keys
    page = Dashboard(driver, api)
    server_key = api.create_key("Production Server")
    backup_key = api.create_key("Production Backup")
    staging_key = api.create_key("Staging Server")
    page.sign_in()
    assert len(page.rows()) == 4  # the admin key and the three

    page.d.execute_script("performance.clearResourceTimings()")
    page.search("Production Server")
    try:
        page.wait(lambda d: page.shown(search="Production Server") and page.row_ids() == [server_key["id"]],
                  "search result never became the one key")
    except TimeoutException:
        sent = page.d.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('search='))")
        by_api = {
            encoding: [k["name"] for k in api.http.get(
                api.url(f"/v1/api-keys?search={encoding}"), timeout=15,
                headers={"Authorization": f"Bearer {api.admin_key}"}).json().get("data", [])]
            for encoding in ("Production+Server", "Production%20Server")
        }
        raise AssertionError(
            f"searching the dashboard for 'Production Server' listed {[r['name'] for r in page.rows()]}, "
            f"expected only 'Production Server'. The page asked for {sent}; the API answers "
            f"?search=Production+Server with {by_api['Production+Server']} and "
            f"?search=Production%20Server with {by_api['Production%20Server']}") from None
    assert page.summary() == "1–1 of 1"
    assert [r["name"] for r in page.rows()] == ["Production Server"]
    # The request really carried the `+` form.
    sent = page.d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('search='))")
    assert sent and all("search=Production+Server" in n for n in sent), sent

    # One word still matches both of its keys; the other word of the name, the two keys that have it.
    page.search_and_wait("Production", [backup_key["id"], server_key["id"]])  # newest first
    page.search_and_wait("Server", [staging_key["id"], server_key["id"]])

    problems = [e["message"] for e in page.console_errors() if _is_script_problem(e["message"])]
    assert problems == [], f"browser console reported script errors / CSP violations: {problems}"


def test_pagination_with_total(dash, keysmith, unique):
    prefix = f"page-{unique}"
    ids = [keysmith.create_key(f"{prefix}-{i:02d}")["id"] for i in range(1, 24)]  # 23 keys
    dash.sign_in()

    total = keysmith.list_total()
    assert total >= 24
    dash.wait(lambda d: dash.shown(search="", page=1) and dash.summary() == f"1–20 of {total}",
              f"summary was {dash.summary()!r}")
    assert len(dash.rows()) == 20
    assert dash.rows()[0]["id"] == ids[-1]  # newest first
    assert not dash.by_id("prev-page").is_enabled()
    assert dash.by_id("next-page").is_enabled()
    dash.screenshot("02-key-list.png")

    dash.search_and_wait(prefix, list(reversed(ids))[:20])
    assert dash.summary() == "1–20 of 23"
    dash.by_id("next-page").click()
    dash.wait(lambda d: dash.shown(search=prefix, page=2) and dash.summary() == "21–23 of 23")
    assert dash.row_ids() == [ids[2], ids[1], ids[0]]
    assert not dash.by_id("next-page").is_enabled()
    assert dash.by_id("prev-page").is_enabled()
    dash.by_id("prev-page").click()
    dash.wait(lambda d: dash.shown(search=prefix, page=1) and dash.summary() == "1–20 of 23")
    assert dash.row_ids() == list(reversed(ids))[:20]


# ---------------------------------------------------------------------------
# Status, dormant, revoke


def test_dormant_filter_and_last_used(dash, keysmith, unique):
    unused = keysmith.create_key(f"dormant-{unique}-unused")
    used = keysmith.create_key(f"dormant-{unique}-used")
    assert keysmith.whoami(used["secret"]).status_code == 200
    used_api = keysmith.wait_for_last_used(used["id"], unique)

    dash.sign_in()
    dash.search_and_wait(unique, [used["id"], unused["id"]])
    by_id = {r["id"]: r for r in dash.rows()}
    assert by_id[unused["id"]]["lastUsed"] == "Never"
    assert "badge-dormant" in by_id[unused["id"]]["badges"]
    assert "badge-dormant" not in by_id[used["id"]]["badges"]
    assert by_id[used["id"]]["lastUsed"] == "just now" or by_id[used["id"]]["lastUsed"].endswith("ago")
    assert by_id[used["id"]]["lastUsedTitle"] == used_api["last_used_at"]

    dash.by_id("dormant-only").click()
    dash.wait(lambda d: dash.shown(search=unique, filters="dormant") and dash.row_ids() == [unused["id"]],
              f"dormant filter showed {dash.row_ids()}")
    assert dash.by_id("dormant-only").is_selected()
    assert "badge-dormant" in dash.rows()[0]["badges"]
    dash.by_id("dormant-only").send_keys(Keys.SPACE)  # keyboard toggles it too
    dash.wait(lambda d: dash.shown(search=unique, filters="") and dash.row_ids() == [used["id"], unused["id"]])


def test_expired_key_is_marked_expired(dash, keysmith, unique):
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    short = keysmith.create_key(f"short-lived-{unique}", expires_at=soon.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    forever = keysmith.create_key(f"forever-{unique}")
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.5)
    assert keysmith.whoami(short["secret"]).status_code == 401  # expired keys are refused

    dash.sign_in()
    dash.search_and_wait(unique, [forever["id"], short["id"]])
    by_id = {r["id"]: r for r in dash.rows()}
    assert "badge-expired" in by_id[short["id"]]["badges"]
    assert "badge-active" not in by_id[short["id"]]["badges"]
    assert "badge-active" in by_id[forever["id"]]["badges"]
    expires = dash.row(short["id"]).find_element(By.CSS_SELECTOR, '[data-testid="key-expires"]')
    assert expires.get_attribute("title") == keysmith.get_key(short["id"], unique)["expires_at"]
    assert dash.row(forever["id"]).find_element(By.CSS_SELECTOR, '[data-testid="key-expires"]').text == "Never"


def test_revoke_from_page(dash, keysmith, unique):
    name = f"Production Server {unique}"
    victim = keysmith.create_key(name)
    assert keysmith.whoami(victim["secret"]).status_code == 200
    dash.sign_in()
    dash.search_and_wait(unique, [victim["id"]])

    revoke_button = lambda: dash.row(victim["id"]).find_element(By.CSS_SELECTOR, '[data-testid="revoke-button"]')  # noqa: E731
    # Cancel leaves the key alone.
    revoke_button().click()
    dash.wait(lambda d: dash.dialog_open("revoke-dialog"))
    assert dash.text("revoke-message") == f"Revoke '{name}'? Requests using it will fail immediately."
    assert not dash.visible("revoke-self-warning")
    dash.by_id("revoke-cancel").click()
    dash.wait(lambda d: not dash.dialog_open("revoke-dialog"))
    assert keysmith.whoami(victim["secret"]).status_code == 200

    revoke_button().click()
    dash.wait(lambda d: dash.dialog_open("revoke-dialog"))
    dash.screenshot("04-revoke-confirm.png")
    dash.by_id("revoke-confirm").click()
    dash.wait(lambda d: not dash.dialog_open("revoke-dialog"), "revoke dialog did not close")
    dash.wait(lambda d: dash.shown(search=unique) and dash.row_ids() == [], "revoked key still listed")
    assert dash.visible("keys-no-results")

    r = keysmith.whoami(victim["secret"])
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED_BODY
    assert keysmith.request("GET", "/v1/api-keys", key=victim["secret"]).json() == UNAUTHORIZED_BODY

    # "Show revoked" brings it back, marked and without actions.
    dash.by_id("show-revoked").click()
    dash.wait(lambda d: dash.shown(search=unique, filters="revoked") and dash.row_ids() == [victim["id"]],
              "show revoked did not list the key")
    row = dash.rows()[0]
    assert "badge-revoked" in row["badges"]
    assert "badge-active" not in row["badges"]
    assert not row["hasRevoke"] and not row["hasRename"]


def test_revoking_own_key_signs_out(dash, keysmith, unique):
    mine = keysmith.create_key(f"my-session-{unique}", scope="admin")
    dash.sign_in(mine["secret"])
    dash.search_and_wait(unique, [mine["id"]])
    assert "this-key-badge" in dash.rows()[0]["badges"]
    dash.row(mine["id"]).find_element(By.CSS_SELECTOR, '[data-testid="revoke-button"]').click()
    dash.wait(lambda d: dash.dialog_open("revoke-dialog"))
    assert dash.visible("revoke-self-warning")
    dash.by_id("revoke-confirm").click()
    dash.wait(lambda d: dash.visible("signin-view"), "revoking the session key did not sign out")
    assert dash.session_storage() == {}
    assert not dash.visible("app-view")
    assert keysmith.whoami(mine["secret"]).status_code == 401


# ---------------------------------------------------------------------------
# Webhooks tab and routing


def test_webhooks_tab_and_history(dash, keysmith):
    dash.sign_in()
    dash.by_id("tab-webhooks").click()
    dash.wait(lambda d: d.current_url.endswith("/settings/webhooks"))
    assert dash.visible("webhooks-panel") and not dash.visible("keys-panel")
    assert dash.by_id("tab-webhooks").get_attribute("aria-current") == "page"
    dash.wait(lambda d: dash.by_id("webhooks-panel").get_attribute("data-state") in ("empty", "list"),
              "webhooks tab never settled")
    api = keysmith.request("GET", "/v1/webhooks")
    state = dash.by_id("webhooks-panel").get_attribute("data-state")
    assert api.status_code == 200, api.text
    assert state == ("list" if api.json()["data"] else "empty")
    assert not dash.visible("webhooks-error")
    dash.screenshot("07-webhooks.png")

    # A loopback target is refused by the server; the form shows the server's own message.
    target = "https://127.0.0.1/keysmith-hook"
    refused = keysmith.request("POST", "/v1/webhooks", json={"url": target})
    assert refused.status_code == 400, refused.text
    dash.by_id("create-webhook-button").click()
    dash.wait(lambda d: dash.dialog_open("webhook-dialog"))
    dash.by_id("webhook-url").send_keys(target, Keys.ENTER)
    dash.wait(lambda d: dash.text("webhook-form-error") == refused.json()["message"],
              "server error not shown in the webhook form")
    assert dash.dialog_open("webhook-dialog") and not dash.dialog_open("secret-dialog")
    dash.by_id("webhook-cancel").click()
    dash.wait(lambda d: not dash.dialog_open("webhook-dialog"))

    dash.d.back()
    dash.wait(lambda d: d.current_url.endswith("/settings/api-keys") and dash.visible("keys-panel"))
    assert not dash.visible("webhooks-panel")

    # Deep link while signed in (same tab keeps sessionStorage).
    dash.d.get(keysmith.url("/settings/webhooks"))
    dash.wait(lambda d: dash.visible("webhooks-panel"), "deep link to webhooks did not open the tab")
    assert dash.by_id("tab-webhooks").get_attribute("aria-current") == "page"


def test_no_csp_violations_or_script_errors(dash, keysmith):
    dash.sign_in()
    open_create_dialog(dash)
    dash.by_id("create-cancel").click()
    dash.by_id("tab-webhooks").click()
    dash.wait(lambda d: dash.by_id("webhooks-panel").get_attribute("data-state") in ("empty", "list"))
    dash.by_id("tab-api-keys").click()
    dash.wait_ready()
    # Exercise the create flow up to the one-time secret as well.
    secret = create_key_in_ui(dash, "console-check")
    close_secret_dialog(dash)
    assert secret not in dash.d.page_source
    messages = [e["message"] for e in dash.console_errors()]
    bad = [m for m in messages if "Content Security Policy" in m or "Refused to" in m or "Uncaught" in m]
    assert bad == []


# ---------------------------------------------------------------------------
# Narrow layout


def test_narrow_layout_400px(dash, keysmith, unique):
    keysmith.create_key(f"narrow-{unique}-a-very-long-key-name-that-should-wrap-nicely-on-small-screens")
    dash.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 400, "height": 860, "deviceScaleFactor": 1, "mobile": False})
    dash.open("/")
    assert dash.d.execute_script("return window.innerWidth") == 400
    assert dash.d.execute_script("return document.documentElement.scrollWidth") <= 402
    dash.sign_in()
    assert len(dash.rows()) > 0
    width = dash.d.execute_script("return document.documentElement.scrollWidth")
    assert width <= 402, f"page overflows horizontally at 400px: scrollWidth={width}"
    # Rows are stacked cards that fit the viewport, and the main actions are reachable.
    rects = dash.d.execute_script(
        "return [...document.querySelectorAll('#keys-tbody tr')].map(tr => tr.getBoundingClientRect().right)")
    assert rects and max(rects) <= 401
    create = dash.by_id("create-key-button")
    assert create.is_displayed()
    assert create.rect["x"] >= 0 and create.rect["x"] + create.rect["width"] <= 400
    dash.screenshot("05-narrow-400.png")

    create.click()
    dash.wait(lambda d: dash.dialog_open("create-dialog"))
    dialog_rect = dash.by_id("create-dialog").rect
    assert dialog_rect["x"] >= 0 and dialog_rect["x"] + dialog_rect["width"] <= 400
    dash.screenshot("06-narrow-create.png")


# ---------------------------------------------------------------------------
# Error state


def test_error_banner_when_server_is_unreachable(driver, private_keysmith):
    server_api, server = private_keysmith
    page = Dashboard(driver, server_api)
    page.sign_in()
    # A fresh workspace lists exactly its first admin key, marked as the key in use.
    rows = page.rows()
    assert len(rows) == 1 and "this-key-badge" in rows[0]["badges"]
    assert page.summary() == "1–1 of 1"
    # The key in use is never shown as unused/dormant, even before the server has flushed its usage.
    assert rows[0]["lastUsed"] != "Never" and "badge-dormant" not in rows[0]["badges"]

    server.stop()
    page.by_id("refresh-button").click()
    page.wait(lambda d: page.visible("keys-error"), "no error banner while the server is down")
    assert "Could not reach the Keysmith server" in page.text("keys-error-message")
    # A network failure is not a rejected key: the user stays signed in.
    assert page.visible("app-view") and not page.visible("signin-view")
    assert list(page.session_storage().values()) == [server_api.admin_key]
    page.screenshot("09-error-banner.png")

    server.start().wait_healthy(timeout=90)  # on the port it had: the page's URL stays valid
    page.by_id("keys-error-retry").click()
    page.wait(lambda d: not page.visible("keys-error") and page.shown() and len(page.rows()) == 1,
              "retry did not recover once the server was back")
