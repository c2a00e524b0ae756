#!/usr/bin/env bash
# Keysmith at scale: one `keysmith serve` (release build) on a fresh database, loaded through the API.
#   bench/scale.sh [--database sqlite|postgres] [--keys 1000000] [--workspaces 1000] [--per-workspace 100]
#                  [--hot 200000] [--cold 10000] [--rounds 5] [--duration 5s] [--connections 64]
#                  [--samples 200] [--workers 4] [--scratch-path DIR] [--bin PATH]
# 1. Starts the server on a fresh database; its first start creates the bootstrap workspace and prints
#    its admin key. Creates --workspaces more with `keysmith workspace create --json` while it runs.
# 2. Loads --keys keys into the bootstrap workspace with POST /v1/api-keys/batch (1,000 per request,
#    --workers processes with a keep-alive connection each, bench/scale.py), then --per-workspace keys
#    into each other workspace. Prints the load times and keys/second (target: 1M keys in under 60 s).
# 3. Prints the server's RSS (VmRSS of /proc/PID/status) after loading.
# 4. p50 / p99 of --samples sequential requests (one keep-alive connection, each endpoint bounded to 60 s)
#    in the big workspace: the first page, a deep page (page 9999, limit 100, or the last page when there
#    are fewer keys), the middle page and a two-word search; then 100 keys (none of the whoami sets) are
#    revoked and the first, middle and deep pages measured again (with revoked keys a page is found by
#    skipping rows on an index, without them by a range of key numbers). Targets: first page <= 10 ms,
#    search <= 20 ms, any page <= 50 ms.
# 5. whoami throughput with wrk (bench/scale.lua: every request the next token of a list) over --hot
#    secrets of the big workspace picked at random, against --cold picked at random among them; one warm-up
#    run of each, then --rounds rounds of both, the order swapped every round; the medians of 200 answers
#    per second and their ratio (target: hot >= 0.9 x cold), all answers per second, and the status mix
#    of each run (a key missing from the cache can get 429 past the per-address lookup budget).
# 6. The server's RSS again, at the end.
# Everything is bounded in time (timeout on every step), on 127.0.0.1 only; the trap stops the server (and
# PostgreSQL) and removes the temporary folder. --scratch-path builds the release binary in that folder
# (e.g. .build-bench); --bin uses a binary as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite keys=1000000 workspaces=1000 per_workspace=100 hot=200000 cold=10000 rounds=5 duration=5s
connections=64 threads=2 samples=200 workers=4 scratch=.build-bench bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --database) backend=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --workspaces) workspaces=$2; shift 2 ;;
    --per-workspace) per_workspace=$2; shift 2 ;;
    --hot) hot=$2; shift 2 ;;
    --cold) cold=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
bench_binary
bench_setup scale 54397
trap 'exit 130' INT TERM
started=$(date +%s)
log() { echo "[$(( $(date +%s) - started ))s] $*" >&2; }

host=127.0.0.1 port=18095
KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --host "$host" --port "$port" \
  --bootstrap-key-file "$work/admin-key" >"$work/serve.log" 2>&1 &
pids+=($!)
pid=${pids[0]}
for _ in $(seq 1 100); do curl -fs -m 2 "http://$host:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -fs -m 2 "http://$host:$port/healthz" >/dev/null || { echo "the server did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
# The bootstrap workspace's admin key, written once on the first start (stdout is not a terminal here).
admin=$(grep -oE '^ +[a-z]{14}:[A-Za-z0-9_]+$' "$work/admin-key" 2>/dev/null | head -1 | tr -d ' ')
[ -n "$admin" ] || { echo "no bootstrap admin key in $work/admin-key:" >&2; cat "$work/serve.log" >&2; exit 1; }
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$pid/status"; }

log "creating $workspaces workspaces with keysmith workspace create..."
t0=$(date +%s.%N)
seq 1 "$workspaces" | timeout 600 xargs -P 2 -I{} "$bin" workspace create "bench-{}" --database "$database" --json \
  >"$work/workspaces.jsonl"
ws_seconds=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
[ "$(wc -l <"$work/workspaces.jsonl")" = "$workspaces" ] || { echo "workspace create failed" >&2; exit 1; }

log "loading $keys keys into the bootstrap workspace (POST /v1/api-keys/batch, $workers loaders)..."
read -r big_seconds big_keys big_rate < <(timeout 1800 python3 bench/scale.py load "$host" "$port" "$admin" "$keys" \
  "$work/secrets.txt" --workers "$workers")
log "  $big_keys keys in $big_seconds s ($big_rate keys/s)"
small_keys=$((workspaces * per_workspace))
log "loading $small_keys keys across $workspaces workspaces..."
read -r small_seconds small_keys small_rate < <(timeout 900 python3 bench/scale.py load-many "$host" "$port" \
  "$work/workspaces.jsonl" "$per_workspace" --workers "$workers")
log "  $small_keys keys in $small_seconds s ($small_rate keys/s)"
rss_loaded=$(rss)

# The whoami sets: --hot secrets of the big workspace at random, --cold at random among those.
python3 bench/scale.py pick "$work/secrets.txt" "$hot" "$work/hot.txt"
python3 bench/scale.py pick "$work/hot.txt" "$cold" "$work/cold.txt"
# Keys to revoke for the list measurements: none of the whoami sets.
grep -vxFf "$work/hot.txt" "$work/secrets.txt" | head -100 >"$work/revoke.txt" || true
rm -f "$work/secrets.txt"

# The deep page: page 9999 of 100, or the last full page when there are fewer keys.
deep_page=$(( (keys + 1) / 100 < 9999 ? ((keys + 1) / 100 > 1 ? (keys + 1) / 100 : 1) : 9999 ))
search="Production+Server"
latency() {  # latency LABEL PATH
  local out
  out=$(timeout 300 python3 bench/scale.py latency "$host" "$port" "$admin" "$2" "$samples" 60)
  read -r p50 p99 n total returned <<<"$out"
  printf '%-44s p50 %8.2f ms   p99 %8.2f ms   (%s requests; %s items, meta.total %s)\n' "$1" "$p50" "$p99" "$n" "$returned" "$total"
}
log "list latencies ($samples sequential requests each, at most 60 s each)..."
lat_first=$(latency "GET /v1/api-keys (first page, limit 20)" "/v1/api-keys")
log "  $lat_first"
lat_deep=$(latency "GET /v1/api-keys?page=$deep_page&limit=100" "/v1/api-keys?page=$deep_page&limit=100")
log "  $lat_deep"
lat_search=$(latency "GET /v1/api-keys?search=$search" "/v1/api-keys?search=$search")
log "  $lat_search"
# With no key revoked, a page is a range of the workspace's key numbers; once keys are revoked, the rows
# before a page are skipped on the active-keys index from the nearer end, so the middle page is the slowest.
middle_page=$(( deep_page / 2 > 1 ? deep_page / 2 : 1 ))
lat_middle=$(latency "GET /v1/api-keys?page=$middle_page&limit=100" "/v1/api-keys?page=$middle_page&limit=100")
log "  $lat_middle"
revoked=$(timeout 300 python3 bench/scale.py revoke "$host" "$port" "$admin" "$work/revoke.txt" 100)
log "revoked $revoked keys"
lat_first_r=$(latency "after revoking $revoked: first page" "/v1/api-keys")
lat_middle_r=$(latency "after revoking $revoked: page $middle_page, limit 100" "/v1/api-keys?page=$middle_page&limit=100")
lat_deep_r=$(latency "after revoking $revoked: page $deep_page, limit 100" "/v1/api-keys?page=$deep_page&limit=100")
log "  $lat_middle_r"

url="http://$host:$port/v1/auth/whoami"
status=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$work/hot.txt")" "$url")
[ "$status" = 200 ] || { echo "whoami with a loaded key returned $status" >&2; exit 1; }
whoami() {  # whoami FILE [DURATION] -> "requests/second status-mix"
  timeout 120 wrk -t"$threads" -c"$connections" -d"${2:-$duration}" --latency -s bench/scale.lua "$url" -- "$1" "$threads" \
    >"$work/wrk.txt"
  grep -E "Requests/sec|^ +50%|^ +99%|Socket errors|Non-2xx" "$work/wrk.txt" | sed "s/^/    $(basename "$1" .txt) /" >&2
  # 200s per second: past the lookup budget a key missing from the cache can be answered 429, which is
  # not a whoami served; both figures are kept.
  awk '/Requests\/sec/ {rps = $2} /^status / {mix = mix (mix ? "," : "") $2 ":" $3; all += $3; if ($2 == 200) ok += $3}
       END {printf "%.0f %.0f %s\n", (all ? rps * ok / all : 0), rps, (mix ? mix : "-")}' "$work/wrk.txt"
}
# Warm-up: each set once through the server (a hot run long enough to touch all of its keys).
# The hot warm-up lasts long enough to present every hot key at least once at 5,000 requests a second.
warm=$(( hot / 5000 > 15 ? hot / 5000 : 15 ))
log "whoami warm-up (cold set 3 s, hot set $warm s)..."
whoami "$work/cold.txt" 3s >/dev/null
whoami "$work/hot.txt" "${warm}s" >/dev/null
hots=() colds=() ratios=() mixes=() hot_alls=() cold_alls=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    log "round $round: $cold keys, then $hot keys"
    c=$(whoami "$work/cold.txt"); h=$(whoami "$work/hot.txt")
  else
    log "round $round: $hot keys, then $cold keys"
    h=$(whoami "$work/hot.txt"); c=$(whoami "$work/cold.txt")
  fi
  read -r c_rps c_all c_mix <<<"$c"; read -r h_rps h_all h_mix <<<"$h"
  colds+=("$c_rps") hots+=("$h_rps") mixes+=("cold=$c_mix/hot=$h_mix") cold_alls+=("$c_all") hot_alls+=("$h_all")
  ratios+=("$(python3 -c "print(round($h_rps / $c_rps, 3))")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
hot_rps=$(median "${hots[@]}") cold_rps=$(median "${colds[@]}")
rss_end=$(rss)
elapsed=$(( $(date +%s) - started ))

echo
printf 'backend=%s  bin=%s  %s\n' "$backend" "$bin" "$(date -u +%FT%TZ)"
printf 'workspaces: %s created with keysmith workspace create in %s s\n' "$workspaces" "$ws_seconds"
printf 'bulk load, bootstrap workspace:  %8s keys in %7s s = %6s keys/s (target: 1,000,000 in < 60 s)\n' "$big_keys" "$big_seconds" "$big_rate"
printf 'bulk load, %s workspaces:      %8s keys in %7s s = %6s keys/s\n' "$workspaces" "$small_keys" "$small_seconds" "$small_rate"
printf 'server RSS after loading: %s; at the end: %s\n' "$rss_loaded" "$rss_end"
echo "list latencies, bootstrap workspace ($((keys + 1)) keys; targets p50: first page <= 10 ms, search <= 20 ms, any page <= 50 ms):"
printf '  %s\n' "$lat_first" "$lat_deep" "$lat_middle" "$lat_search" "$lat_first_r" "$lat_middle_r" "$lat_deep_r"
printf 'whoami over %s random keys: %8.0f 200s/s (median of: %s; all answers: %s req/s)\n' "$hot" "$hot_rps" "${hots[*]}" "${hot_alls[*]}"
printf 'whoami over %s random keys:  %8.0f 200s/s (median of: %s; all answers: %s req/s)\n' "$cold" "$cold_rps" "${colds[*]}" "${cold_alls[*]}"
python3 -c "print('ratio of the medians %.3f (hot / cold; target >= 0.9)' % ($hot_rps / $cold_rps))"
printf 'ratio per round      %.3f (median of: %s)\n' "$(median "${ratios[@]}")" "${ratios[*]}"
printf 'whoami status mix per round: %s\n' "${mixes[*]}"
printf 'wrk: %s threads, %s connections, %s per run, %s rounds; total run time %s s\n' "$threads" "$connections" "$duration" "$rounds" "$elapsed"
