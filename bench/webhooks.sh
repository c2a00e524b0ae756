#!/usr/bin/env bash
# Webhook throughput of one `keysmith serve` (release build): deliveries per second to local receivers.
#   bench/webhooks.sh [--database sqlite|postgres] [--events 1000] [--receivers "1 20"] [--scratch-path DIR] [--bin PATH]
# For each count N in --receivers, a fresh database and server, N workspaces each with one webhook for
# `api_key.created` to a receiver of its own (Python, keep-alive, answers 200 at once), and --events keys
# created through POST /v1/api-keys/batch, split between the workspaces. Prints the deliveries per second
# from the first create to the last delivery (bench/webhooks.py). One receiver shows how fast one
# endpoint's backlog drains within its 4 sends in flight; 20 show the instance's send slots shared by 20
# tenants.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite events=1000 receivers="1 20" scratch="" bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --database) backend=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --receivers) receivers=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
bench_binary

port=18095
for count in $receivers; do
  bench_setup webhooks 54397
  tokens=()
  for i in $(seq 1 "$count"); do
    tokens+=("$("$bin" workspace create "tenant $i" --database "$database" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')")
  done
  KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --port "$port" --allow-private-webhook-targets >"$work/serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  python3 bench/webhooks.py 127.0.0.1 "$port" "$events" "${tokens[@]}"
  bench_cleanup
  trap - EXIT
done
