#!/usr/bin/env bash
# The test command. On a machine with nothing but the repository and Swift:
#   1. scripts/setup.sh installs what is missing (Debian: postgresql, postgresql-contrib, chromium,
#      chromium-driver, nginx, wrk; PyPI: tests/requirements.txt);
#   2. starts a throwaway PostgreSQL when its binaries are here (else the PostgreSQL tests are reported as
#      skipped, never as passed);
#   3. builds, runs the Swift tests (every store test against SQLite and PostgreSQL), then the Python tests
#      (tests/: integration, browser, contract) against the debug binary.
# Both suites run even when the first fails; the exit code is non-zero when either failed. Each suite has a
# time limit (KEYSMITH_SWIFT_TEST_TIMEOUT, KEYSMITH_PYTEST_TIMEOUT: seconds, 900 each), so that a test that
# hangs is reported as a failure, and its processes ended, instead of holding CI past its time.
#
#   scripts/test.sh [--no-setup] [--no-swift] [PYTEST ARGS...]
#     --no-setup   install nothing (also KEYSMITH_NO_SETUP=1)
#     --no-swift   no swift build or swift test: the Python tests only, against $KEYSMITH_BIN or
#                  .build/debug/keysmith as it is
#     PYTEST ARGS  replace the default `tests` (e.g. tests/integration/test_connections.py -k idle)
set -euo pipefail
cd "$(dirname "$0")/.."

setup=${KEYSMITH_NO_SETUP:+no}
swift=yes
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=no; shift ;;
    --no-swift) swift=no; shift ;;
    *) pytest_args+=("$1"); shift ;;
  esac
done
[ ${#pytest_args[@]} -gt 0 ] || pytest_args=(tests)

# Swift is at /opt/swift on this project's machines; a login shell may not have it on PATH.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="$PATH:/opt/swift/usr/bin"
fi

if [ "$setup" != no ]; then
  echo "== setup (scripts/setup.sh)"
  scripts/setup.sh
fi

pg_dir=$(mktemp -d /tmp/keysmith-pg.XXXXXX)
cleanup() { scripts/postgres.sh stop "$pg_dir" || true; }
trap cleanup EXIT

if env_line=$(scripts/postgres.sh start "$pg_dir" "${KEYSMITH_TEST_PG_PORT:-54329}" 2>/dev/null); then
  eval "$env_line"
  echo "== PostgreSQL: $KEYSMITH_TEST_POSTGRES_URL"
else
  echo "== PostgreSQL: NOT AVAILABLE. The PostgreSQL tests will be reported as skipped, not passed."
  unset KEYSMITH_TEST_POSTGRES_URL
fi

started=$SECONDS
elapsed() { echo "$(( (SECONDS - started) / 60 ))m$(( (SECONDS - started) % 60 ))s"; }

# Runs a suite under `timeout`, which signals the suite's whole process group (its test processes too).
run_suite() {  # run_suite NAME LIMIT COMMAND...
  local name=$1 limit=$2 rc=0 foreground=()
  shift 2
  # At a terminal, stay in its foreground process group so that Ctrl-C reaches the tests.
  [ -t 0 ] && foreground=(--foreground)
  timeout "${foreground[@]}" -k 30 "$limit" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "== $name did not finish within $limit s: stopped, counted as failed"
  fi
  return "$rc"
}

swift_rc=0
if [ "$swift" = yes ]; then
  echo "== swift build ($(elapsed))"
  swift build --build-tests
  export KEYSMITH_BIN="$PWD/.build/debug/keysmith"

  echo "== swift test ($(elapsed))"
  run_suite "swift test" "${KEYSMITH_SWIFT_TEST_TIMEOUT:-900}" swift test --skip-build || swift_rc=$?
else
  export KEYSMITH_BIN="${KEYSMITH_BIN:-$PWD/.build/debug/keysmith}"
  echo "== swift: not built, not tested (--no-swift); binary: $KEYSMITH_BIN"
fi

echo "== integration, browser and contract tests (pytest ${pytest_args[*]}) ($(elapsed))"
pytest_rc=0
run_suite pytest "${KEYSMITH_PYTEST_TIMEOUT:-900}" python3 -m pytest -q -p no:cacheprovider -rs "${pytest_args[@]}" \
  || pytest_rc=$?
if [ "$pytest_rc" = 5 ]; then
  # pytest's "no tests collected" (a selection that matched nothing) is not a failure.
  echo "== pytest collected no tests (exit code 5): nothing failed"
  pytest_rc=0
fi

echo "== summary ($(elapsed)): swift test exit $swift_rc, pytest exit $pytest_rc"
[ "$swift_rc" = 0 ] && [ "$pytest_rc" = 0 ]
