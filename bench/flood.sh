#!/usr/bin/env bash
# A flood of well-formed unknown tokens against authentication with a valid key, in the same run, on one
# `keysmith serve` (release build).
#   bench/flood.sh [--database sqlite|postgres] [--duration 4s] [--rounds 9] [--connections 64] [--keys 10000]
#                  [--scratch-path DIR] [--bin PATH] [--addresses N] [--unknown-key-lookups N]
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
#
# --addresses N (e.g. 10000): the flood comes from N client addresses instead, through a trusted proxy
# (the server trusts the loopback, and each request names its client in X-Forwarded-For), so that the
# per-address budget alone would let it through; the instance's total budget
# (--unknown-key-lookups-per-second) is what holds it. Each round runs the valid key alone, then the valid key
# and the flood at once (two wrk processes, --connections each). Prints the valid key's requests/second
# flooded against unflooded, and the database lookups per second during the flood, from the server's
# metrics (keysmith_key_cache_queries_total). --unknown-key-lookups N starts the server with
# --unknown-key-lookups-per-second N (default: the server's, 2,000), to see the cap on a slower machine.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite duration=4s connections=64 keys=10000 threads=2 rounds=9 scratch="" bin="" addresses=0 instance_budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --database) backend=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --addresses) addresses=$2; shift 2 ;;
    --unknown-key-lookups) instance_budget=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
bench_binary
bench_setup flood 54398

admin=$("$bin" workspace create bench --database "$database" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
port=18090
metrics_port=18091
serve_extra=()
[ "$addresses" -gt 0 ] && serve_extra=(--trusted-proxy 127.0.0.1/32 --metrics-port "$metrics_port")
[ -n "$instance_budget" ] && serve_extra+=(--unknown-key-lookups-per-second "$instance_budget")
KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --port "$port" "${serve_extra[@]}" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
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

if [ "$addresses" -gt 0 ]; then
  queries() {  # the server's database reads of key ids so far: "found absent"
    curl -fs "http://127.0.0.1:$metrics_port/metrics" | awk '
      /^keysmith_key_cache_queries_total\{.*result="found"/ {f = $NF}
      /^keysmith_key_cache_queries_total\{.*result="absent"/ {a = $NF}
      END {printf "%d %d\n", f, a}'
  }
  rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
  alone=() flooded=() ratios=() lookups=() found_lookups=() mixes=()
  for round in $(seq 1 "$rounds"); do
    echo "round $round: valid key alone, then with a flood from $addresses addresses" >&2
    wrk -t1 -c"$connections" -d"$duration" -s bench/flood.lua "$url" -- valid "$token" >"$work/alone.txt"
    read -r found0 absent0 <<<"$(queries)"
    start=$(date +%s.%N)
    wrk -t1 -c"$connections" -d"$duration" -s bench/flood.lua "$url" -- spread "$addresses" >"$work/spread.txt" &
    flood_pid=$!
    wrk -t1 -c"$connections" -d"$duration" -s bench/flood.lua "$url" -- valid "$token" >"$work/flooded.txt"
    wait "$flood_pid"
    read -r found1 absent1 <<<"$(queries)"
    elapsed=$(python3 -c "import time; print(time.time() - $start)")
    if grep -qE "Non-2xx" "$work/flooded.txt" "$work/alone.txt"; then
      echo "wrk saw non-2xx answers with the valid key:" >&2; cat "$work/alone.txt" "$work/flooded.txt" >&2; exit 1
    fi
    alone+=("$(rps "$work/alone.txt")") flooded+=("$(rps "$work/flooded.txt")")
    ratios+=("$(python3 -c "print(round(${flooded[-1]} / ${alone[-1]}, 3))")")
    lookups+=("$(python3 -c "print(round(($absent1 - $absent0) / $elapsed))")")
    found_lookups+=("$(python3 -c "print(round(($found1 - $found0) / $elapsed))")")
    mixes+=("$(awk '/^status / {m = m (m ? "," : "") $2 ":" $3} END {print m}' "$work/spread.txt")")
    echo "    valid alone ${alone[-1]} req/s, flooded ${flooded[-1]} req/s; flood $(rps "$work/spread.txt") req/s (${mixes[-1]}); lookups of absent ids ${lookups[-1]}/s" >&2
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
  printf 'backend=%s keys=%s flood from %s addresses via X-Forwarded-For; wrk: 1 thread, %s connections each, %s per run, %s rounds\n' \
    "$backend" "$keys" "$addresses" "$connections" "$duration" "$rounds"
  printf 'valid key alone            %10.0f req/s (median of: %s)\n' "$(median "${alone[@]}")" "${alone[*]}"
  printf 'valid key during the flood %10.0f req/s (median of: %s)\n' "$(median "${flooded[@]}")" "${flooded[*]}"
  printf 'ratio per round            %10.3f (flooded / alone; median of: %s)\n' "$(median "${ratios[@]}")" "${ratios[*]}"
  printf 'database lookups of absent ids during the flood %8.0f /s (median of: %s)\n' "$(median "${lookups[@]}")" "${lookups[*]}"
  printf 'database lookups that found a key              %8.0f /s (median of: %s)\n' "$(median "${found_lookups[@]}")" "${found_lookups[*]}"
  printf 'flood status mix per round (status:count): %s\n' "${mixes[*]}"
  exit 0
fi

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
