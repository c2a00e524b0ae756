#!/usr/bin/env bash
# The test command: builds, starts a throwaway PostgreSQL when its binaries are here, and runs the Swift
# tests (every store test against SQLite and PostgreSQL), the multi-instance tests and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== swift build"
swift build --build-tests
export KEYSMITH_BIN="$PWD/.build/debug/keysmith"

echo "== swift test"
swift test --skip-build

echo "== integration and browser tests (pytest)"
python3 -m pytest tests -q -p no:cacheprovider
