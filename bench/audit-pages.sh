#!/usr/bin/env bash
# A deep page of the audit log against its first page, on one `keysmith serve` (release build).
#   bench/audit-pages.sh [--database sqlite|postgres] [--entries 200000] [--samples 50]
#                        [--scratch-path DIR] [--bin PATH]
# Fills a fresh workspace's audit log with --entries entries (one per key created, POST /v1/api-keys/batch,
# 1,000 a request), then times --samples sequential requests (one keep-alive connection) of
# GET /v1/audit-events with limit=100 at: the first page, the middle page, the last page, and page 1000000
# (past the end), and, for comparison, the first and middle pages filtered by action (a filter's matches
# are still counted and skipped, as every page was before). Prints p50 / p99 of each in milliseconds: a page is a range of the workspace's audit
# numbers, so the deep pages should cost what the first costs (before, the database skipped the rows above).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite entries=200000 samples=50 scratch="" bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --database) backend=$2; shift 2 ;;
    --entries) entries=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
bench_binary
bench_setup audit-pages 54396

admin=$("$bin" workspace create bench --database "$database" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
port=18092
KEYSMITH_LOG_LEVEL=warning "$bin" serve --database "$database" --port "$port" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$admin" "$entries" "$samples" "$backend" <<'PY'
import http.client, json, statistics, sys, time
port, admin, entries, samples, backend = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
start = time.perf_counter()
made = 0
while made < entries:
    count = min(1000, entries - made)
    body = json.dumps({"keys": [{"name": f"audited {made + i}", "scope": "read"} for i in range(count)]})
    conn.request("POST", "/v1/api-keys/batch", body, headers)
    response = conn.getresponse()
    text = response.read()
    if response.status != 201:
        sys.exit(f"batch failed: {response.status} {text[:200]!r}")
    made += count
print(f"loaded {made} audit entries in {time.perf_counter() - start:.1f} s", file=sys.stderr)

def get(page, extra=""):
    conn.request("GET", f"/v1/audit-events?page={page}&limit=100{extra}", headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != 200:
        sys.exit(f"page {page}: {response.status} {data}")
    return data

total = get(1)["meta"]["total"]
last = (total + 99) // 100
pages = [("first page", 1, ""), ("middle page", max(1, last // 2), ""), ("last page", last, ""), ("page 1000000", 1_000_000, ""),
         # A filter's matches are counted and skipped, as every page was before: for comparison.
         ("filtered first", 1, "&action=api_key.created"), ("filtered middle", max(1, last // 2), "&action=api_key.created")]
for _, page, extra in pages:  # warm up
    get(page, extra)
print(f"backend={backend} audit entries={total} limit=100, {samples} sequential requests each (ms)")
first = None
for name, page, extra in pages:
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        data = get(page, extra)
        times.append((time.perf_counter() - t) * 1000)
    assert data["meta"]["total"] == total and len(data["data"]) == (0 if page > last else min(100, total - (page - 1) * 100))
    times.sort()
    p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
    first = first or p50
    print(f"{name:16} (page {page:>7}) p50 {p50:7.2f}  p99 {p99:7.2f}  ({p50 / first:.2f} x the first page)")
PY
