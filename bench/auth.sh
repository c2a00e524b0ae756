#!/usr/bin/env bash
# Authenticated vs unauthenticated throughput of one `keysmith serve` (release build).
#   bench/auth.sh [--database sqlite|postgres] [--instances N] [--duration 4s] [--rounds 9] [--connections 64] [--keys 10000]
#                 [--scratch-path DIR] [--bin PATH]
# Seeds a fresh database with --keys keys through the API, then runs wrk against GET /healthz and
# GET /v1/auth/whoami (a valid key from the middle of the set) back to back for --rounds rounds, with the
# same threads, connections and duration, the order swapped every round. Prints the median requests/second
# of each, the ratio of those medians, and the median of the rounds' own ratios (each round's two runs see
# the same machine, so that figure is the least disturbed by a neighbour's load). It also prints the servers'
# CPU time per request (user + system, from /proc), which depends less than requests/second on how the
# scheduler shares the cores between wrk and the server. With --instances N > 1 (PostgreSQL only)
# it starts N servers on one database and runs one wrk per server, each with an equal share of the
# connections, summing their figures.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite instances=1 duration=4s connections=64 keys=10000 threads=2 rounds=9 scratch="" bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --database) backend=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;  # build the release binary in this build folder
    --bin) bin=$2; shift 2 ;;               # use this binary as it is
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
bench_binary
bench_setup bench 54399

admin=$("$bin" workspace create bench --database "$database" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
ports=()
for i in $(seq 1 "$instances"); do
  port=$((18080 + i))
  KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --port "$port" >"$work/serve-$i.log" 2>&1 &
  pids+=($!)
  ports+=("$port")
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done

echo "seeding $keys keys..." >&2
token=$(python3 bench/seed.py 127.0.0.1 "${ports[0]}" "$admin" "$keys")

# Figures of a run with errors or non-2xx answers mean nothing: stop.
refuse_errors() {
  if grep -qE "Non-2xx|Socket errors" "$1"; then echo "wrk saw errors:" >&2; cat "$1" >&2; exit 1; fi
}

ticks_per_second=$(getconf CLK_TCK)

run() {  # run PATH [header] -> "requests/second  server-CPU-microseconds/request"
  local path=$1 header=${2:-}
  local args=(-t"$threads" -c"$connections" -d"$duration" --latency)
  [ -n "$header" ] && args+=(-H "$header")
  local before; before=$(server_ticks)
  if [ "$instances" -gt 1 ]; then
    # wrk takes one URL; give each instance an equal share of the time and connections instead.
    local loaders=()
    for port in "${ports[@]}"; do
      wrk -t1 -c$((connections / instances)) -d"$duration" ${header:+-H "$header"} "http://127.0.0.1:$port$path" >"$work/wrk-$port.txt" &
      loaders+=($!)
    done
    wait "${loaders[@]}"
    : >"$work/wrk.txt"
    for port in "${ports[@]}"; do refuse_errors "$work/wrk-$port.txt"; cat "$work/wrk-$port.txt" >>"$work/wrk.txt"; done
  else
    wrk "${args[@]}" "http://127.0.0.1:${ports[0]}$path" >"$work/wrk.txt"
    refuse_errors "$work/wrk.txt"
    grep -E "Requests/sec|^ +50%|^ +99%" "$work/wrk.txt" | sed 's/^/    /' >&2
  fi
  local after; after=$(server_ticks)
  # Sums over the instances' wrk reports (one report with one instance).
  awk -v ticks=$((after - before)) -v hz="$ticks_per_second" '
    /Requests\/sec/ {rps += $2}  / requests in / {requests += $1}
    END {printf "%.2f %.1f\n", rps, ticks / hz * 1e6 / requests}' "$work/wrk.txt"
}

# Warm up (caches, connections, the CPU governor).
wrk -t1 -c8 -d2s "http://127.0.0.1:${ports[0]}/healthz" >/dev/null
# The whoami responses must be 200s, or the figures mean nothing.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:${ports[0]}/v1/auth/whoami")
[ "$status" = 200 ] || { echo "whoami returned $status" >&2; exit 1; }

# Both endpoints in every round, the order swapped each round, so that both see the same machine.
healths=() whoamis=() ratios=() health_cpus=() whoami_cpus=() cpu_ratios=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    echo "round $round: GET /healthz, then GET /v1/auth/whoami" >&2
    health=$(run /healthz); whoami=$(run /v1/auth/whoami "Authorization: Bearer $token")
  else
    echo "round $round: GET /v1/auth/whoami, then GET /healthz" >&2
    whoami=$(run /v1/auth/whoami "Authorization: Bearer $token"); health=$(run /healthz)
  fi
  read -r health health_cpu <<<"$health"
  read -r whoami whoami_cpu <<<"$whoami"
  healths+=("$health") whoamis+=("$whoami") health_cpus+=("$health_cpu") whoami_cpus+=("$whoami_cpu")
  ratios+=("$(python3 -c "print(round($whoami / $health, 3))")")
  cpu_ratios+=("$(python3 -c "print(round($health_cpu / $whoami_cpu, 3))")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
health=$(median "${healths[@]}")
whoami=$(median "${whoamis[@]}")

loaders=$([ "$instances" -gt 1 ] && echo "1 thread per instance" || echo "$threads threads")
printf 'backend=%s instances=%s keys=%s wrk: %s, %s connections, %s per run, %s rounds\n' \
  "$backend" "$instances" "$keys" "$loaders" "$connections" "$duration" "$rounds"
printf 'GET /healthz          %10.0f req/s (median of: %s)\n' "$health" "${healths[*]}"
printf 'GET /v1/auth/whoami   %10.0f req/s (median of: %s)\n' "$whoami" "${whoamis[*]}"
python3 -c "print('ratio of the medians  %10.3f' % ($whoami / $health))"
printf 'ratio per round       %10.3f (median of: %s)\n' "$(median "${ratios[@]}")" "${ratios[*]}"
printf 'server CPU per request: GET /healthz %.1f us, GET /v1/auth/whoami %.1f us (medians)\n' \
  "$(median "${health_cpus[@]}")" "$(median "${whoami_cpus[@]}")"
printf 'CPU ratio per round   %10.3f (healthz / whoami CPU per request; median of: %s)\n' \
  "$(median "${cpu_ratios[@]}")" "${cpu_ratios[*]}"
