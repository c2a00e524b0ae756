#!/usr/bin/env bash
# What the route rules add to each /v1/auth/verify: the time of one decision (normalising the original URI and
# finding the first matching rule), for the shipped deploy/route-rules.json and for 200 rules that do not
# match before one that does. Compiles the domain's route files with the benchmark, optimised (-O -wmo, as a release build); prints
# nanoseconds per decision.
#   bench/route-rules.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/keysmith-route-rules.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp bench/route-rules.swift "$work/main.swift"  # top-level code must be main.swift
swiftc -O -wmo -swift-version 6 -module-name RouteRulesBench -o "$work/bench" \
  Sources/KeysmithCore/Routes/*.swift Sources/KeysmithCore/Domain/Permissions.swift Sources/KeysmithCore/Domain/FieldError.swift \
  "$work/main.swift"
"$work/bench" deploy/route-rules.json
