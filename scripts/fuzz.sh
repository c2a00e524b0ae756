#!/usr/bin/env bash
# The deeper contract run: schemathesis with 200 generated cases per operation (the test command's run
# uses 25) and every phase, the coverage phase included (the test command's run leaves it out), every
# check, in the same network sandbox as tests/contract/test_contract.py.
#   scripts/fuzz.sh [CASES]      (default 200; takes about 7 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then export PATH="$PATH:/opt/swift/usr/bin"; fi
swift build --product keysmith
KEYSMITH_CONTRACT_MAX_EXAMPLES="${1:-200}" KEYSMITH_CONTRACT_PHASES=examples,coverage,fuzzing exec scripts/test.sh --no-swift tests/contract/test_contract.py -k schemathesis
