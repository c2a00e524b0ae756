"""Settings › API Keys, key lifecycle and insight, in headless Chromium against the real server: the key prefix
and Enabled state in each row, rolling a key with a grace period, disabling and enabling it, the key detail view
(last use, usage chart, audit trail) and Settings › Audit log."""

from __future__ import annotations

import datetime as dt
import re
import time

from conftest import Dashboard
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

SECRET_RE = re.compile(r"^[a-z]{14}:ks_[A-Za-z0-9]{38}$")


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def in_row(dash: Dashboard, key_id: str, testid: str):
    return dash.row(key_id).find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def text_of(dash: Dashboard, element) -> str:
    return dash.d.execute_script("return arguments[0].textContent", element)


def active_id(dash: Dashboard) -> str | None:
    return dash.d.execute_script("return document.activeElement && document.activeElement.dataset.testid")


def wait_for_usage(keysmith, key_id: str, success: int, refused: int, timeout: float = 15) -> list[dict]:
    """The server counts use in memory and writes it about once a second: wait until the API shows it."""
    fields = ("wrong_secret", "inactive", "forbidden", "rate_limited", "ip")
    deadline = time.monotonic() + timeout
    while True:
        r = keysmith.request("GET", f"/v1/api-keys/{key_id}/usage")
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        ok = sum(b["success"] for b in data)
        bad = sum(b[f] for b in data for f in fields)
        if ok >= success and bad >= refused:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"usage of {key_id} never reached {success} / {refused}: {ok} / {bad}")
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# Row: prefix and Enabled state


def test_row_shows_key_prefix_and_enabled_state(dash, keysmith, unique):
    created = keysmith.create_key(f"prefix-{unique}")
    dash.sign_in()
    dash.search_and_wait(unique, [created["id"]])
    prefix = in_row(dash, created["id"], "key-prefix")
    assert created["key_prefix"] == created["secret"].split(":")[1][:7]  # ks_ and four characters
    assert text_of(dash, prefix).endswith(f"{created['key_prefix']}…")
    assert created["secret"].split(":")[1] not in dash.d.page_source  # only the prefix, never the secret
    switch = in_row(dash, created["id"], "enabled-switch")
    assert switch.is_selected() and switch.get_attribute("role") == "switch"
    assert "badge-active" in dash.rows()[0]["badges"]


# ---------------------------------------------------------------------------
# Roll


def test_roll_with_grace_period_shows_new_secret_once_and_keeps_old_key(dash, keysmith, unique):
    old = keysmith.create_key(f"rolling-{unique}", scope="read-write", permissions=["calls.read"])
    assert keysmith.whoami(old["secret"]).status_code == 200
    dash.sign_in()
    dash.search_and_wait(unique, [old["id"]])

    in_row(dash, old["id"], "roll-button").click()
    dash.wait(lambda d: dash.dialog_open("roll-dialog"), "roll dialog did not open")
    assert f"“{old['name']}”" in dash.text("roll-message")
    default = dash.d.find_element(By.CSS_SELECTOR, '[data-testid="roll-grace-86400"]')
    assert default.is_selected(), "24 hours is the default grace period"
    assert dash.d.switch_to.active_element == default  # focus on the chosen option
    # Cancel changes nothing.
    dash.by_id("roll-cancel").click()
    dash.wait(lambda d: not dash.dialog_open("roll-dialog"))
    assert active_id(dash) == "roll-button"
    assert keysmith.get_key(old["id"], unique)["expires_at"] is None

    in_row(dash, old["id"], "roll-button").click()
    dash.wait(lambda d: dash.dialog_open("roll-dialog"))
    dash.d.find_element(By.CSS_SELECTOR, '[data-testid="roll-grace-3600"]').click()
    assert "keeps working until" in dash.text("roll-grace-hint")
    dash.screenshot("10-roll-dialog.png")
    before = dt.datetime.now(dt.timezone.utc)
    dash.by_id("roll-submit").click()
    dash.wait(lambda d: dash.dialog_open("secret-dialog"), "the new secret was not shown")
    assert not dash.dialog_open("roll-dialog")

    secret = dash.text("secret-value")
    assert SECRET_RE.match(secret) and secret != old["secret"], secret
    assert old["id"] in dash.text("secret-for")
    who = keysmith.whoami(secret)
    assert who.status_code == 200, who.text
    new = who.json()["key"]
    assert new["id"] != old["id"] and new["rolled_from"] == old["id"]
    assert new["name"] == old["name"] and new["scope"] == "read-write" and new["permissions"] == ["calls.read"]
    assert keysmith.whoami(old["secret"]).status_code == 200, "the old key works during its grace period"
    dash.screenshot("11-roll-secret.png")

    dash.by_id("secret-done").click()
    dash.wait(lambda d: not dash.dialog_open("secret-dialog"))
    assert secret not in dash.d.page_source  # shown once: gone from the page
    assert dash.text("secret-value") == ""

    # Both keys are listed, the new one first; the old one with its shortened expiry.
    dash.wait(lambda d: dash.shown(search=unique) and dash.row_ids() == [new["id"], old["id"]],
              f"after the roll the list showed {dash.row_ids()}")
    old_api = keysmith.get_key(old["id"], unique)
    expiry = parse_iso(old_api["expires_at"])
    assert abs((expiry - (before + dt.timedelta(hours=1))).total_seconds()) < 30, old_api["expires_at"]
    old_expires = in_row(dash, old["id"], "key-expires")
    assert old_expires.get_attribute("title") == old_api["expires_at"]
    assert "in 1 hour" in dash.row(old["id"]).text or "in 60 minutes" in dash.row(old["id"]).text
    assert "badge-active" in {r["id"]: r for r in dash.rows()}[old["id"]]["badges"]
    assert text_of(dash, in_row(dash, new["id"], "key-rolled-from")) == f"Replaces {old['id']}"
    assert text_of(dash, in_row(dash, new["id"], "key-prefix")).endswith(f"{secret.split(':')[1][:7]}…")
    assert in_row(dash, new["id"], "key-expires").text == "Never"


def test_rolling_an_expired_key_shows_the_server_message(dash, keysmith, unique):
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    short = keysmith.create_key(f"roll-expired-{unique}", expires_at=soon.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    dash.sign_in()
    dash.search_and_wait(unique, [short["id"]])
    in_row(dash, short["id"], "roll-button").click()  # listed before it expired
    dash.wait(lambda d: dash.dialog_open("roll-dialog"))
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.5)
    refused = keysmith.request("POST", f"/v1/api-keys/{short['id']}/roll", json={"grace_seconds": 60})
    assert refused.status_code == 409, refused.text
    dash.by_id("roll-submit").click()
    dash.wait(lambda d: dash.visible("roll-error"), "no error for rolling an expired key")
    assert dash.text("roll-error") == refused.json()["message"]
    assert dash.dialog_open("roll-dialog") and not dash.dialog_open("secret-dialog")
    ActionChains(dash.d).send_keys(Keys.ESCAPE).perform()
    dash.wait(lambda d: not dash.dialog_open("roll-dialog"))


# ---------------------------------------------------------------------------
# Disable / enable


def test_disable_and_enable_a_key(dash, keysmith, unique):
    created = keysmith.create_key(f"switch-{unique}")
    assert keysmith.whoami(created["secret"]).status_code == 200
    dash.sign_in()
    dash.search_and_wait(unique, [created["id"]])

    in_row(dash, created["id"], "enabled-switch").click()
    dash.wait(lambda d: dash.row(created["id"]).get_attribute("data-enabled") == "false", "the key was not disabled")
    assert not in_row(dash, created["id"], "enabled-switch").is_selected()
    badges = dash.rows()[0]["badges"]
    assert "badge-disabled" in badges and "badge-active" not in badges
    assert active_id(dash) == "enabled-switch"  # focus stays on the redrawn switch
    assert keysmith.get_key(created["id"], unique)["enabled"] is False
    assert keysmith.whoami(created["secret"]).status_code == 401
    dash.screenshot("12-disabled-key.png")

    # The list says so after a reload too; the keyboard turns it back on.
    dash.by_id("refresh-button").click()
    dash.wait(lambda d: dash.shown(search=unique) and "badge-disabled" in dash.rows()[0]["badges"])
    in_row(dash, created["id"], "enabled-switch").send_keys(Keys.SPACE)
    dash.wait(lambda d: dash.row(created["id"]).get_attribute("data-enabled") == "true", "the key was not enabled again")
    assert in_row(dash, created["id"], "enabled-switch").is_selected()
    assert "badge-active" in dash.rows()[0]["badges"]
    assert keysmith.get_key(created["id"], unique)["enabled"] is True
    assert keysmith.whoami(created["secret"]).status_code == 200


def test_disabling_the_last_admin_key_shows_the_server_refusal(driver, private_keysmith):
    api, _ = private_keysmith  # a workspace whose only admin key is the one the page signs in with
    page = Dashboard(driver, api)
    page.sign_in()
    me = page.rows()[0]
    assert "this-key-badge" in me["badges"]
    refused = api.request("PATCH", f"/v1/api-keys/{me['id']}", json={"enabled": False})
    assert refused.status_code == 409, refused.text

    in_row(page, me["id"], "enabled-switch").click()
    error = lambda: in_row(page, me["id"], "enabled-error")  # noqa: E731
    page.wait(lambda d: error().is_displayed(), "the refusal was not shown")
    assert error().text == refused.json()["message"]
    assert in_row(page, me["id"], "enabled-switch").is_selected(), "the switch goes back on"
    assert page.visible("app-view") and not page.visible("signin-view")
    assert api.whoami(api.admin_key).status_code == 200


def test_disabling_the_key_in_use_signs_out(dash, keysmith, unique):
    mine = keysmith.create_key(f"my-switch-{unique}", scope="admin")
    dash.sign_in(mine["secret"])
    dash.search_and_wait(unique, [mine["id"]])
    in_row(dash, mine["id"], "enabled-switch").click()
    dash.wait(lambda d: dash.visible("signin-view"), "disabling the session key did not sign out")
    assert dash.text("signin-message").startswith("You disabled the key you were signed in with.")
    assert dash.session_storage() == {}
    assert keysmith.get_key(mine["id"], unique)["enabled"] is False
    assert keysmith.whoami(mine["secret"]).status_code == 401


# ---------------------------------------------------------------------------
# Key detail


def test_key_detail_shows_last_use_usage_chart_and_audit_trail(dash, keysmith, unique):
    created = keysmith.create_key(f"detail-{unique}", metadata={"team": "billing", "note": "<b>x</b>"})
    user_agent = f"detail-test-agent/{unique}"
    for _ in range(3):
        assert keysmith.request("GET", "/v1/auth/whoami", key=created["secret"],
                                headers={"User-Agent": user_agent}).status_code == 200
    # A refusal: a read key may not create keys (403, counted as forbidden; still its last use).
    assert keysmith.request("POST", "/v1/api-keys", key=created["secret"], json={"name": "x"},
                            headers={"User-Agent": user_agent}).status_code == 403
    assert keysmith.request("PATCH", f"/v1/api-keys/{created['id']}", json={"name": f"detail-{unique}-renamed"}).status_code == 200
    assert keysmith.request("PATCH", f"/v1/api-keys/{created['id']}", json={"enabled": False}).status_code == 200
    assert keysmith.request("PATCH", f"/v1/api-keys/{created['id']}", json={"enabled": True}).status_code == 200
    wait_for_usage(keysmith, created["id"], success=3, refused=1)
    listed = keysmith.wait_for_last_used(created["id"], unique)

    dash.sign_in()
    dash.search_and_wait(unique, [created["id"]])
    in_row(dash, created["id"], "details-button").click()
    dash.wait(lambda d: dash.dialog_open("detail-dialog"), "detail dialog did not open")
    assert dash.text("detail-title") == f"detail-{unique}-renamed"

    # Last use: time, address, user agent.
    dash.wait(lambda d: dash.d.find_elements(By.CSS_SELECTOR, '[data-testid="detail-last-used-ip"]'))
    assert dash.d.find_element(By.CSS_SELECTOR, '[data-testid="detail-last-used-ip"]').text == "127.0.0.1"
    assert dash.d.find_element(By.CSS_SELECTOR, '[data-testid="detail-last-used-user-agent"]').text == user_agent
    assert dash.d.find_element(By.CSS_SELECTOR, '[data-testid="detail-last-used-at"]').get_attribute("datetime") == listed["last_used_at"]
    assert dash.d.find_element(By.CSS_SELECTOR, '[data-testid="detail-key-prefix"]').text == f"{created['key_prefix']}…"
    metadata = dash.d.find_element(By.CSS_SELECTOR, '[data-testid="detail-metadata"]')
    assert '"team": "billing"' in metadata.text and "<b>x</b>" in metadata.text  # as text, not markup
    assert dash.by_id("detail-dialog").find_elements(By.TAG_NAME, "b") == []

    # The chart: inline SVG with a bar per outcome today, titled, and today's day title giving the numbers.
    dash.wait(lambda d: dash.by_id("detail-usage").get_attribute("data-state") == "ready", "usage never loaded")
    chart = dash.by_id("detail-usage").find_element(By.CSS_SELECTOR, 'svg[data-testid="usage-chart"]')
    assert chart.get_attribute("role") == "img"
    assert dash.d.execute_script("return arguments[0].namespaceURI", chart) == "http://www.w3.org/2000/svg"
    labelled_by = chart.get_attribute("aria-labelledby").split()
    texts = [dash.d.execute_script("return document.getElementById(arguments[0]).textContent", i) for i in labelled_by]
    assert texts[0] == "Requests per day, last 30 days"
    assert "3 requests succeeded and 1 was refused" in texts[1], texts
    days = chart.find_elements(By.CSS_SELECTOR, '[data-testid="usage-day"]')
    assert len(days) >= 30
    assert chart.find_elements(By.CSS_SELECTOR, 'rect[data-testid="usage-bar-success"]')
    assert chart.find_elements(By.CSS_SELECTOR, 'rect[data-testid="usage-bar-refused"]')
    last_title = dash.d.execute_script("return arguments[0].querySelector('title').textContent", days[-1])
    assert last_title.endswith(": 3 succeeded, 1 refused (1 scope or permission)"), last_title
    heights = dash.d.execute_script(
        "return [...arguments[0].querySelectorAll('rect.bar-success, rect.bar-refused')]"
        ".map(r => r.getBoundingClientRect().height)", chart)
    assert heights and all(h > 0 for h in heights), heights

    # The audit trail, newest first.
    dash.wait(lambda d: dash.by_id("detail-audit").get_attribute("data-state") == "ready", "audit trail never loaded")
    actions = [e.get_attribute("data-action") for e in
               dash.by_id("detail-audit").find_elements(By.CSS_SELECTOR, '[data-testid="detail-audit-entry"]')]
    assert actions == ["api_key.enabled", "api_key.disabled", "api_key.renamed", "api_key.created"], actions
    renamed = dash.by_id("detail-audit").find_elements(By.CSS_SELECTOR, '[data-testid="detail-audit-entry"]')[2]
    change = renamed.find_element(By.CSS_SELECTOR, '[data-testid="audit-changes"] li')
    assert text_of(dash, change) == f"name “detail-{unique}” →  to “detail-{unique}-renamed”"
    dash.screenshot("13-key-detail.png")
    dash.d.execute_script("arguments[0].scrollIntoView({block: 'start'})", dash.by_id("detail-usage-title"))
    dash.screenshot("14-key-detail-usage.png")

    # Escape closes it and focus goes back to the row's button.
    ActionChains(dash.d).send_keys(Keys.ESCAPE).perform()
    dash.wait(lambda d: not dash.dialog_open("detail-dialog"))
    assert active_id(dash) == "details-button"


# ---------------------------------------------------------------------------
# Audit log


def test_audit_log_lists_and_filters_by_action(dash, keysmith, unique):
    victim = keysmith.create_key(f"audited-{unique}")
    assert keysmith.revoke(victim["id"]).status_code == 200
    dash.sign_in()
    dash.by_id("tab-audit").click()
    dash.wait(lambda d: d.current_url.endswith("/settings/audit-log") and dash.visible("audit-panel"))
    assert not dash.visible("keys-panel") and not dash.visible("webhooks-panel")
    assert dash.by_id("tab-audit").get_attribute("aria-current") == "page"
    assert dash.d.title == "Audit log · Settings · Keysmith"
    ready = lambda action="": (dash.by_id("audit-panel").get_attribute("data-state") == "ready"  # noqa: E731
                               and dash.by_id("audit-panel").get_attribute("data-action") == action)
    dash.wait(lambda d: ready(), "audit log never loaded")

    def rows():
        return dash.d.execute_script("""
          return [...document.querySelectorAll('#audit-tbody tr[data-testid="audit-row"]')].map(tr => ({
            action: tr.dataset.action,
            target: tr.querySelector('[data-testid="audit-target"]').textContent,
          }));""")

    total = keysmith.request("GET", "/v1/audit-events", params={"limit": 1}).json()["meta"]["total"]
    first = rows()
    assert first[:2] == [{"action": "api_key.revoked", "target": victim["id"]},
                         {"action": "api_key.created", "target": victim["id"]}], first[:3]
    assert dash.text("audit-pagination-summary") == f"1–{min(20, total)} of {total}"
    dash.screenshot("15-audit-log.png")

    select = Select(dash.by_id("audit-action"))
    select.select_by_value("api_key.revoked")
    dash.wait(lambda d: ready("api_key.revoked"), "the filter did not reload the log")
    filtered = rows()
    assert filtered and all(r["action"] == "api_key.revoked" for r in filtered), filtered
    assert filtered[0]["target"] == victim["id"]
    revoked_total = keysmith.request("GET", "/v1/audit-events", params={"action": "api_key.revoked"}).json()["meta"]["total"]
    assert dash.text("audit-pagination-summary").endswith(f"of {revoked_total}")

    # A key's id opens its detail view.
    dash.d.find_element(By.CSS_SELECTOR, f'#audit-tbody [data-testid="audit-target"][data-key-id="{victim["id"]}"]').click()
    dash.wait(lambda d: dash.dialog_open("detail-dialog"))
    dash.wait(lambda d: dash.text("detail-title") == victim["name"], "the detail view did not load the key")
    dash.wait(lambda d: "badge-revoked" in [b.get_attribute("data-testid") for b in
                                            dash.by_id("detail-overview").find_elements(By.CSS_SELECTOR, ".badge")])
    dash.by_id("detail-close").click()
    dash.wait(lambda d: not dash.dialog_open("detail-dialog"))

    # Back to every action, and the page survives a reload on its own URL.
    select.select_by_value("")
    dash.wait(lambda d: ready(""))
    dash.d.refresh()
    dash.wait(lambda d: dash.visible("audit-panel") and ready(), "deep link to the audit log did not open it")
