#!/usr/bin/env bash
# A flood of well-formed unknown tokens against authentication with a valid key, in the same run, on one
# `keysmith serve` (release build).
#   bench/flood.sh [--database sqlite|postgres] [--duration 4s] [--rounds 9] [--connections 64] [--keys 10000]
#                  [--scratch-path DIR] [--bin PATH]
# Seeds a fresh database with --keys keys through the API, then runs wrk against GET /v1/auth/whoami twice
# per round, back to back, the order swapped every round (as bench/auth.sh does):
#   valid   one valid key from the middle of the set, on every request;
#   flood   a new token on every request: 14 random lowercase letters as the key id and a secret whose
#           CRC-32 checksum is valid, so it passes every check before the lookup (bench/flood.lua).
# The flood comes from one address (127.0.0.1), so past the server's per-address failure budget its
# answer is 429: every answer, 2xx or not, counts as served (the measurement is how fast the server
# refuses), and the status mix is printed. Prints the median requests/second of each, their ratio (target:
# flood >= 0.9 of valid), the median of the rounds' own ratios, and the server's CPU time per request.
# --scratch-path builds the release binary in another build folder (e.g. .build-bench); --bin uses a
# binary as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite duration=4s connections=64 keys=10000 threads=2 rounds=9 scratch="" bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --database) backend=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
bench_binary
bench_setup flood 54398

admin=$("$bin" workspace create bench --database "$database" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
port=18090
KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --port "$port" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/v1/auth/whoami"

echo "seeding $keys keys..." >&2
token=$(python3 bench/seed.py 127.0.0.1 "$port" "$admin" "$keys")

# What one request of each kind gets before the runs (an unknown token, made as flood.lua makes them).
unknown=$(python3 -c '
import random, string, zlib
alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
body = "".join(random.choices(string.ascii_lowercase, k=14)) + ":ks_" + "".join(random.choices(alphabet, k=32))
v, digits = zlib.crc32(body.encode()), ""
for _ in range(6):
    digits, v = alphabet[v % 62] + digits, v // 62
print(body + digits)')
valid_status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url")
unknown_status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $unknown" "$url")
echo "one request: the valid key answers $valid_status, an unknown well-formed token $unknown_status" >&2
[ "$valid_status" = 200 ] || { echo "whoami with the valid key returned $valid_status" >&2; exit 1; }

# The tokens of the flood are well-formed: the server's own rule (APIKeyToken), checked here in Python.
wrk -t1 -c1 -d1s -s bench/flood.lua "$url" -- sample >"$work/sample.txt"
python3 - "$work/sample.txt" <<'PY'
import re, sys, zlib
alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def base62(v, width=6):
    out = ""
    for _ in range(width):
        out = alphabet[v % 62] + out
        v //= 62
    return out
tokens = [line.split()[1] for line in open(sys.argv[1]) if line.startswith("sample ")]
assert tokens, "flood.lua printed no sample tokens"
for t in tokens:
    assert re.fullmatch(r"[a-z]{14}:ks_[0-9A-Za-z]{38}", t), t
    assert base62(zlib.crc32(t[:-6].encode())) == t[-6:], f"bad checksum: {t}"
assert len(set(tokens)) == len(tokens), tokens
PY

ticks_per_second=$(getconf CLK_TCK)

run() {  # run valid|flood -> "requests/second  server-CPU-microseconds/request  socket-errors  status-mix"
  local mode=$1 args=(-t"$threads" -c"$connections" -d"$duration" --latency -s bench/flood.lua "$url" --)
  if [ "$mode" = valid ]; then args+=(valid "$token"); else args+=(flood); fi
  local before; before=$(server_ticks)
  wrk "${args[@]}" >"$work/wrk.txt"
  local after; after=$(server_ticks)
  grep -E "Requests/sec|^ +50%|^ +99%|Socket errors|Non-2xx" "$work/wrk.txt" | sed "s/^/    $mode /" >&2
  if [ "$mode" = valid ] && grep -qE "Non-2xx" "$work/wrk.txt"; then
    echo "wrk saw non-2xx answers with the valid key:" >&2; cat "$work/wrk.txt" >&2; exit 1
  fi
  awk -v ticks=$((after - before)) -v hz="$ticks_per_second" '
    /Requests\/sec/ {rps = $2}  / requests in / {requests = $1}
    /Socket errors/ {gsub(",", ""); errors = $4 + $6 + $8 + $10}
    /^status / {mix = mix (mix ? "," : "") $2 ":" $3}
    END {printf "%.2f %.1f %d %s\n", rps, ticks / hz * 1e6 / requests, errors, (mix ? mix : "-")}' "$work/wrk.txt"
}

# Warm up (caches, connections, the CPU governor).
wrk -t1 -c8 -d2s "http://127.0.0.1:$port/healthz" >/dev/null

valids=() floods=() ratios=() valid_cpus=() flood_cpus=() cpu_ratios=() mixes=() errors=0
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    echo "round $round: valid key, then flood of unknown tokens" >&2
    valid=$(run valid); flood=$(run flood)
  else
    echo "round $round: flood of unknown tokens, then valid key" >&2
    flood=$(run flood); valid=$(run valid)
  fi
  read -r valid valid_cpu valid_errors _ <<<"$valid"
  read -r flood flood_cpu flood_errors mix <<<"$flood"
  valids+=("$valid") floods+=("$flood") valid_cpus+=("$valid_cpu") flood_cpus+=("$flood_cpu") mixes+=("$mix")
  errors=$((errors + valid_errors + flood_errors))
  ratios+=("$(python3 -c "print(round($flood / $valid, 3))")")
  cpu_ratios+=("$(python3 -c "print(round($valid_cpu / $flood_cpu, 3))")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
valid=$(median "${valids[@]}")
flood=$(median "${floods[@]}")

printf 'backend=%s keys=%s wrk: %s threads, %s connections, %s per run, %s rounds, bench/flood.lua in both\n' \
  "$backend" "$keys" "$threads" "$connections" "$duration" "$rounds"
printf 'whoami, valid key          %10.0f req/s (median of: %s)\n' "$valid" "${valids[*]}"
printf 'whoami, unknown-key flood  %10.0f req/s (median of: %s)\n' "$flood" "${floods[*]}"
python3 -c "print('ratio of the medians       %10.3f (flood / valid; target >= 0.9)' % ($flood / $valid))"
printf 'ratio per round            %10.3f (median of: %s)\n' "$(median "${ratios[@]}")" "${ratios[*]}"
printf 'server CPU per request: valid %.1f us, flood %.1f us (medians)\n' \
  "$(median "${valid_cpus[@]}")" "$(median "${flood_cpus[@]}")"
printf 'CPU ratio per round        %10.3f (valid / flood CPU per request; median of: %s)\n' \
  "$(median "${cpu_ratios[@]}")" "${cpu_ratios[*]}"
printf 'flood status mix per round (status:count): %s\n' "${mixes[*]}"
[ "$errors" = 0 ] || printf 'socket errors (connect, read, write, timeout) over all runs: %s\n' "$errors"
