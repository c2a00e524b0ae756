"""`keysmith patterns`: the rules it prints find real keys with the real scanners from PyPI.

1. Every format parses: the regex compiles, the trufflehog3 rules are YAML, the gitleaks rule is TOML, the
   GitHub block has its fields, the detect-secrets plugin is Python; each regex matches real keys (made by
   `keysmith workspace create`) and the plugin's checksum check accepts them and refuses look-alikes.
2. detect-secrets (`scan --plugin` with the printed plugin) finds a real key committed to a temporary git
   repository and does not report a look-alike whose checksum is wrong.
3. trufflehog3 (`--rules` with the printed rules) finds the key, in the working tree and in the history
   of a file that was committed and then deleted.

The scanners are real processes; nothing here depends on the machine's speed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, where the shared harness is
from keysmith_harness import keysmith_binary, run_cli  # noqa: E402

PREFIX = "ks_"
OTHER_PREFIX = "acme9_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
INSTALL_HINT = {
    "detect-secrets": "run `pip install -r tests/requirements.txt` (scripts/setup.sh installs it)",
    # trufflehog3 pins attrs==20.3.0, which conflicts with schemathesis's jsonschema (attrs>=22.2), so it cannot be
    # in tests/requirements.txt; it runs fine with a newer attrs. Its other dependencies are in the file.
    "trufflehog3": "run `pip install -r tests/requirements.txt && pip install --no-deps trufflehog3==3.0.10`",
}
GIT_IDENTITY = ["-c", "user.name=Keysmith Test", "-c", "user.email=test@keysmith.invalid", "-c", "commit.gpgsign=false"]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINT[name]}")
    return path


def patterns(fmt: str, prefix: str = PREFIX) -> str:
    result = run_cli(keysmith_binary(), "patterns", "--format", fmt, "--secret-prefix", prefix)
    assert result.returncode == 0, f"keysmith patterns --format {fmt} failed: {result.stderr}"
    assert result.stdout.strip(), f"keysmith patterns --format {fmt} printed nothing"
    return result.stdout


def wrong_checksum(token: str) -> str:
    """The same token with its last checksum character changed: same shape, checksum broken (a 6-digit base62
    value has one spelling, so a changed digit never matches the CRC-32)."""
    last = token[-1]
    return token[:-1] + BASE62[(BASE62.index(last) + 1) % 62]


@pytest.fixture(scope="module")
def real_tokens(tmp_path_factory) -> list[str]:
    """Bearer tokens of real keys: a workspace's first key, from the binary itself, three of them."""
    database = tmp_path_factory.mktemp("patterns") / "keysmith.sqlite"
    tokens = []
    for name in ("scan-a", "scan-b", "scan-c"):
        result = run_cli(keysmith_binary(), "workspace", "create", name, "--database", str(database), "--json")
        assert result.returncode == 0, f"workspace create failed: {result.stderr}"
        token = json.loads(result.stdout)["secret"]
        assert re.fullmatch(r"[a-z]{14}:ks_[0-9A-Za-z]{38}", token), "a key no longer has the documented shape"
        tokens.append(token)
    return tokens


@pytest.fixture(scope="module")
def plugin_module():
    """The printed detect-secrets plugin, loaded as a Python module (it imports detect_secrets)."""
    tool("detect-secrets")
    namespace: dict = {}
    exec(compile(patterns("detect-secrets"), "keysmith_ks_detector.py", "exec"), namespace)
    return namespace


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_IDENTITY, *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture()
def leaky_repo(tmp_path, real_tokens) -> tuple[Path, str, str]:
    """A git repository with a real key in `config.env`, a look-alike with a wrong checksum in `lookalike.env`,
    and a second real key in `old.env`, committed and then deleted in a later commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    token, old_token = real_tokens[0], real_tokens[1]
    (repo / "config.env").write_text(f"APP_NAME=demo\nKEYSMITH_TOKEN={token}\n")
    (repo / "lookalike.env").write_text(f"APP_NAME=demo\nKEYSMITH_TOKEN={wrong_checksum(real_tokens[2])}\n")
    (repo / "old.env").write_text(f"KEYSMITH_TOKEN={old_token}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "add configuration")
    git(repo, "rm", "-q", "old.env")
    git(repo, "commit", "-q", "-m", "remove the leaked key")
    return repo, token, old_token


# ------------------------------------------------------------------------------------ formats parse


def token_regex(fmt_output: str) -> re.Pattern:
    lines = [line for line in fmt_output.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1, f"expected one regex line, got {lines}"
    return re.compile(lines[0])


def test_regex_matches_real_keys_and_describes_the_checksum(real_tokens):
    output = patterns("regex")
    assert "CRC-32" in output and "base62" in output, "the checksum rule is not described"
    regex = token_regex(output)
    for token in real_tokens:
        assert [m.group() for m in regex.finditer(f'Authorization: Bearer {token}\n"{token}"')] == [token, token]
        assert regex.search(token.split(":", 1)[1]) is None, "the bare secret is not a whole token"
        assert regex.search(token.split(":", 1)[0]) is None, "the key id alone is public"
        assert regex.search("x" + token) is None, "a longer run of letters is not a key id"
    other = token_regex(patterns("regex", OTHER_PREFIX))
    assert other.search(real_tokens[0]) is None, f"the {OTHER_PREFIX} rule matched a {PREFIX} key"


def test_plugin_checksum_accepts_real_keys_and_refuses_look_alikes(plugin_module, real_tokens):
    holds = plugin_module["keysmith_checksum_holds"]
    for token in real_tokens:
        assert holds(token), f"a real key failed the plugin's checksum check: {token[:18]}…"
        assert not holds(wrong_checksum(token))
        body = token[:-6]
        swapped = body[:20] + ("A" if body[20] != "A" else "B") + body[21:] + token[-6:]
        assert not holds(swapped), "a changed body character kept the checksum"
    detector = plugin_module[f"KeysmithDetector_{PREFIX}"]()
    line = f"token = {real_tokens[0]} other = {wrong_checksum(real_tokens[1])}"
    assert list(detector.analyze_string(line)) == [real_tokens[0]]


def test_trufflehog3_rules_are_yaml(real_tokens):
    rules = yaml.safe_load(patterns("trufflehog3"))
    assert isinstance(rules, list) and len(rules) == 1
    rule = rules[0]
    assert set(rule) == {"id", "message", "pattern", "severity"}
    assert re.search(rule["pattern"], f"x={real_tokens[0]};").group() == real_tokens[0]


def test_gitleaks_rule_is_toml(real_tokens):
    config = tomllib.loads(patterns("gitleaks"))
    assert config["extend"] == {"useDefault": True}
    [rule] = config["rules"]
    assert rule["id"] == "keysmith-api-key-ks" and rule["description"]
    assert rule["keywords"] == [PREFIX]
    # gitleaks is Go's RE2: the rule must use nothing Python's re has and RE2 lacks (lookarounds).
    assert "(?=" not in rule["regex"] and "(?<" not in rule["regex"] and "(?!" not in rule["regex"]
    assert re.search(rule["regex"], f"token: {real_tokens[0]}").group() == real_tokens[0]
    assert re.search(rule["regex"], f"token: {wrong_checksum(real_tokens[0])}"), "the same shape (no checksum check)"


def test_github_pattern_has_format_and_boundaries(real_tokens):
    output = patterns("github")
    fields = dict(
        (name.strip(), value.strip())
        for name, value in (line.split(":", 1) for line in output.splitlines() if line and not line.startswith("#"))
    )
    assert set(fields) == {"Pattern name", "Secret format", "Before secret", "After secret"}
    # GitHub joins them as (before)(format)(after); \z is Python's \Z.
    joined = re.compile(
        "(?:" + fields["Before secret"] + ")(" + fields["Secret format"] + ")(?:" + fields["After secret"].replace(r"\z", r"\Z") + ")"
    )
    for text in (real_tokens[0], f"key={real_tokens[0]}\n", f'"{real_tokens[0]}"'):
        assert joined.search(text).group(1) == real_tokens[0]
    assert joined.search("a" + real_tokens[0]) is None
    assert joined.search(real_tokens[0] + "0") is None


# ------------------------------------------------------------------------------------- real scanners


def test_detect_secrets_finds_the_key_and_not_the_look_alike(tmp_path, leaky_repo):
    binary = tool("detect-secrets")
    repo, token, _ = leaky_repo
    plugin = tmp_path / "keysmith_ks_detector.py"  # detect-secrets loads plugins only from a .py file
    plugin.write_text(patterns("detect-secrets"))
    result = subprocess.run(
        [binary, "scan", "--plugin", str(plugin)], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"detect-secrets scan failed: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    assert any(p.get("name") == f"KeysmithDetector_{PREFIX}" for p in report["plugins_used"]), "plugin not loaded"
    ours = {
        (filename, finding["line_number"])
        for filename, findings in report["results"].items()
        for finding in findings
        if finding["type"] == f"Keysmith API Key ({PREFIX})"
    }
    assert ours == {("config.env", 2)}, f"expected the real key only, got {ours}"
    assert "lookalike.env" not in report["results"], f"the look-alike was reported: {report['results']['lookalike.env']}"


def test_trufflehog3_finds_the_key_now_and_in_history(tmp_path, leaky_repo):
    binary = tool("trufflehog3")
    repo, token, old_token = leaky_repo
    rules = tmp_path / "keysmith-rules.yml"
    rules.write_text(patterns("trufflehog3"))
    report_file = tmp_path / "report.json"
    result = subprocess.run(
        [binary, "--rules", str(rules), "--format", "json", "--output", str(report_file), str(repo)],
        capture_output=True, text=True, timeout=300,
    )
    # trufflehog3 exits 2 when it found something, 0 when not.
    assert result.returncode == 2, f"trufflehog3 exited {result.returncode}: {result.stderr[-2000:]}"
    findings = json.loads(report_file.read_text())
    found = {(f["path"], f["secret"], f["commit"] is not None) for f in findings}
    assert ("config.env", token, False) in found, f"the key in the working tree was not found: {found}"
    assert ("old.env", old_token, True) in found, f"the deleted key was not found in history: {found}"
    assert all(f["rule"]["id"] == "keysmith.api-key.ks" for f in findings)
