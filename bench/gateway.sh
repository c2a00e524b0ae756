#!/usr/bin/env bash
# The cost of Keysmith as a gatekeeper (release build), measured in one run:
#   1. wrk -> nginx -> upstream                                   (no authentication)
#   2. wrk -> nginx + auth_request -> Keysmith /v1/auth/verify -> upstream   (deploy/nginx/keysmith.conf)
#   3. GET /v1/auth/whoami with a key without a rate limit, and with one that has a (never reached) limit
# bench/gateway.sh [--duration 4s] [--rounds 9] [--connections 64] [--scratch-path DIR] [--bin PATH]
# The upstream is a second nginx server that answers `return 200`, so it cannot be the bottleneck; both
# nginx runs go through the same nginx process and the same `upstream` block. Each round runs 1 and 2 back
# to back, then 3's two runs, the order swapped every round; it prints the median requests/second of each,
# the ratios of the medians and the medians of the rounds' own ratios, and the CPU time nginx (master and
# workers) and Keysmith spent per request (user + system, from /proc). Kong publishes 0.76 of its
# no-plugin throughput for key-auth with rate limiting; the target for whoami with a rate limit is 0.95.
# With no way to give a key a rate limit (the field is refused or not kept), that line prints "n/a".
set -euo pipefail
cd "$(dirname "$0")/.."

duration=4s connections=64 threads=2 rounds=9 scratch="" bin="" backend=sqlite
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "nginx is missing: apt-get install nginx (or scripts/setup.sh)" >&2; exit 1; }

source bench/lib.sh
bench_binary
bench_setup gateway 54398

keysmith_port=18281 upstream_port=18282 direct_port=18283 gateway_port=18284
admin=$("$bin" workspace create bench --database "$database" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --port "$keysmith_port" --trusted-proxy 127.0.0.1/32 >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$keysmith_port/healthz" >/dev/null && break; sleep 0.1; done

# Two keys: one plain, one with a rate limit it never reaches (1,000,000 a second).
create() {
  curl -fs -X POST "http://127.0.0.1:$keysmith_port/v1/api-keys" -H "Authorization: Bearer $admin" \
    -H "Content-Type: application/json" -d "$1"
}
plain=$(create '{"name": "bench plain", "scope": "read"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
limited_json=$(create '{"name": "bench limited", "scope": "read", "rate_limit": {"limit": 1000000, "window_seconds": 1}}' || true)
limited=""
if [ -n "$limited_json" ]; then
  limited_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$limited_json")
  kept=$(curl -fs "http://127.0.0.1:$keysmith_port/v1/api-keys/$limited_id" -H "Authorization: Bearer $admin" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("rate_limit") is not None)')
  [ "$kept" = True ] && limited=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$limited_json")
fi

# nginx: the shipped server block with this run's addresses, a plain proxy to the same upstream, and the
# upstream itself. In the foreground, two workers (one process could not serve the gateway's three hops
# per request as fast as two cores allow), running as this user, everything in $work.
mkdir -p "$work/nginx"
sed -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$keysmith_port;/" -e "s/server 127.0.0.1:9000;/server 127.0.0.1:$upstream_port;/" \
    -e "s/listen 8000;/listen 127.0.0.1:$gateway_port;/" deploy/nginx/keysmith.conf >"$work/nginx/keysmith.conf"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
user $(id -un) $(id -gn);
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy; fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
    include $work/nginx/keysmith.conf;
    server {                       # the upstream
        listen 127.0.0.1:$upstream_port;
        location / { return 200 "ok\n"; }
    }
    server {                       # wrk -> nginx -> upstream, without authentication
        listen 127.0.0.1:$direct_port;
        location / {
            proxy_pass http://protected_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
keysmith_pid=${pids[0]}
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$gateway_port/" && break; sleep 0.1; done
nginx_pids=("$nginx_pid" $(pgrep -P "$nginx_pid"))  # the master and its workers

expect() {  # expect STATUS URL [TOKEN]
  local got; got=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "Authorization: Bearer $3"} "$2")
  [ "$got" = "$1" ] || { echo "$2 answered $got, not $1" >&2; cat "$work/nginx/error.log" >&2; exit 1; }
}
expect 200 "http://127.0.0.1:$direct_port/v1/agents2"
expect 401 "http://127.0.0.1:$gateway_port/v1/agents2"
expect 200 "http://127.0.0.1:$gateway_port/v1/agents2" "$plain"
expect 200 "http://127.0.0.1:$keysmith_port/v1/auth/whoami" "$plain"
[ -n "$limited" ] && expect 200 "http://127.0.0.1:$keysmith_port/v1/auth/whoami" "$limited"

refuse_errors() {
  if grep -qE "Non-2xx|Socket errors" "$1"; then echo "wrk saw errors:" >&2; cat "$1" >&2; exit 1; fi
}
ticks() { for pid in "$@"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done | awk '{t += $1} END {print t}'; }
hz=$(getconf CLK_TCK)
run() {  # run URL [token] -> requests/second, and appends nginx's and Keysmith's CPU per request (us) to $cpu_log
  local args=(-t"$threads" -c"$connections" -d"$duration")
  [ -n "${2:-}" ] && args+=(-H "Authorization: Bearer $2")
  local n0 k0; n0=$(ticks "${nginx_pids[@]}"); k0=$(ticks "$keysmith_pid")
  wrk "${args[@]}" "$1" >"$work/wrk.txt"
  refuse_errors "$work/wrk.txt"
  local n1 k1; n1=$(ticks "${nginx_pids[@]}"); k1=$(ticks "$keysmith_pid")
  awk -v n=$((n1 - n0)) -v k=$((k1 - k0)) -v hz="$hz" -v url="$1" '/ requests in / {r = $1}
    END {printf "%s %.1f %.1f\n", url, n / hz * 1e6 / r, k / hz * 1e6 / r}' "$work/wrk.txt" >>"$cpu_log"
  awk '/Requests\/sec/ {print $2}' "$work/wrk.txt"
}
cpu_log=$work/cpu.txt
: >"$cpu_log"
ratio() { python3 -c "print(round($1 / $2, 3))"; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

direct_url="http://127.0.0.1:$direct_port/v1/agents2"
gated_url="http://127.0.0.1:$gateway_port/v1/agents2"
whoami_url="http://127.0.0.1:$keysmith_port/v1/auth/whoami"

# Warm up (connections, caches, the CPU governor).
wrk -t1 -c8 -d2s -H "Authorization: Bearer $plain" "$gated_url" >/dev/null

directs=() gateds=() gate_ratios=() plains=() limiteds=() limit_ratios=()
for round in $(seq 1 "$rounds"); do
  echo "round $round" >&2
  if [ $((round % 2)) = 1 ]; then
    direct=$(run "$direct_url"); gated=$(run "$gated_url" "$plain")
  else
    gated=$(run "$gated_url" "$plain"); direct=$(run "$direct_url")
  fi
  directs+=("$direct") gateds+=("$gated") gate_ratios+=("$(ratio "$gated" "$direct")")
  if [ -n "$limited" ]; then
    if [ $((round % 2)) = 1 ]; then
      p=$(run "$whoami_url" "$plain"); l=$(run "$whoami_url" "$limited")
    else
      l=$(run "$whoami_url" "$limited"); p=$(run "$whoami_url" "$plain")
    fi
    plains+=("$p") limiteds+=("$l") limit_ratios+=("$(ratio "$l" "$p")")
  fi
  echo "  nginx -> upstream $direct, nginx + auth_request $gated${limited:+; whoami $p, with a rate limit $l}" >&2
done

direct=$(median "${directs[@]}") gated=$(median "${gateds[@]}")
printf 'nginx %s, wrk: %s threads, %s connections, %s per run, %s rounds\n' "$("$nginx" -v 2>&1 | sed 's/.*nginx\///')" \
  "$threads" "$connections" "$duration" "$rounds"
printf 'wrk -> nginx -> upstream                     %10.0f req/s (median of: %s)\n' "$direct" "${directs[*]}"
printf 'wrk -> nginx + auth_request -> Keysmith      %10.0f req/s (median of: %s)\n' "$gated" "${gateds[*]}"
printf 'ratio of the medians                         %10.3f (Kong key-auth + rate limiting: 0.76)\n' "$(ratio "$gated" "$direct")"
printf 'ratio per round                              %10.3f (median of: %s)\n' "$(median "${gate_ratios[@]}")" "${gate_ratios[*]}"
cpu() {  # cpu URL COLUMN -> the median CPU per request of that process over the runs of URL
  median $(awk -v url="$1" -v col="$2" '$1 == url {print $col}' "$cpu_log")
}
printf 'CPU per request, nginx (all workers) / Keysmith: without Keysmith %s / %s us, with it %s / %s us (medians)\n' \
  "$(cpu "$direct_url" 2)" "$(cpu "$direct_url" 3)" "$(cpu "$gated_url" 2)" "$(cpu "$gated_url" 3)"
if [ -n "$limited" ]; then
  plain_rps=$(median "${plains[@]}") limited_rps=$(median "${limiteds[@]}")
  printf 'GET /v1/auth/whoami, no rate limit          %10.0f req/s (median of: %s)\n' "$plain_rps" "${plains[*]}"
  printf 'GET /v1/auth/whoami, with a rate limit      %10.0f req/s (median of: %s)\n' "$limited_rps" "${limiteds[*]}"
  printf 'ratio of the medians                         %10.3f (target: at least 0.95)\n' "$(ratio "$limited_rps" "$plain_rps")"
  printf 'ratio per round                              %10.3f (median of: %s)\n' "$(median "${limit_ratios[@]}")" "${limit_ratios[*]}"
else
  echo 'GET /v1/auth/whoami with a rate limit: n/a (a key cannot be given a rate_limit in this build)'
fi
