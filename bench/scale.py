#!/usr/bin/env python3
"""Helper of bench/scale.sh: loads keys through the bulk-create API and measures list latencies.

  scale.py load HOST PORT ADMIN COUNT SECRETS_OUT [--workers N]
      creates COUNT keys in the admin key's workspace with POST /v1/api-keys/batch (1,000 per request,
      N processes with a keep-alive connection each); writes every new secret to SECRETS_OUT, one a line;
      prints "seconds keys keys_per_second" on stdout.
  scale.py load-many HOST PORT WORKSPACES_JSONL PER_WORKSPACE [--workers N]
      creates PER_WORKSPACE keys in each workspace of WORKSPACES_JSONL (the lines of
      `keysmith workspace create --json`), with each workspace's own admin key; prints the same line.
  scale.py latency HOST PORT TOKEN PATH COUNT MAX_SECONDS
      COUNT sequential GETs of PATH on one keep-alive connection (after 5 unmeasured ones), stopping at
      MAX_SECONDS; prints "p50_ms p99_ms requests total" (total: meta.total of the last answer).
  scale.py revoke HOST PORT ADMIN SECRETS COUNT
      revokes COUNT keys of SECRETS (the first COUNT lines) with DELETE /v1/api-keys/{id}; prints the count.
  scale.py pick SECRETS COUNT OUT [--seed S]
      writes COUNT lines of SECRETS, picked at random without replacement, to OUT.
"""
import http.client
import json
import multiprocessing
import random
import re
import sys
import time

BATCH = 1000
# Names like "Production Server eu-west-1 0421337": 60 x 60 two-word stems, so that a two-word phrase
# such as "Production Server" matches about 1 key in 3,600 (about 280 of a million).
FIRST = """Production Staging Development Sandbox Preview Testing Internal External Partner Customer
Billing Checkout Payments Invoicing Search Analytics Reporting Marketing Support Onboarding Identity
Inventory Shipping Catalog Pricing Messaging Notification Mobile Desktop Legacy Nightly Canary Backup
Archive Metrics Logging Monitoring Security Compliance Finance Sales Research Platform Data Edge
Warehouse Fulfilment Loyalty Rewards Booking Travel Media Streaming Gaming Health Insurance Banking
Trading Lending""".split()
SECOND = """Server Worker Gateway Client Backend Frontend Scheduler Pipeline Importer Exporter Crawler Agent
Proxy Cache Queue Consumer Producer Webhook Bot Integration Connector Bridge Sync Uploader Downloader
Renderer Indexer Resolver Router Balancer Monitor Collector Forwarder Relay Notifier Mailer Builder
Deployer Runner Tester Validator Auditor Reporter Dashboard Console Portal Terminal Kiosk Device Sensor
Tablet Phone Watch Widget Plugin Extension Service Function Lambda Job""".split()
REGIONS = "eu-west-1 eu-central-1 us-east-1 us-west-2 ap-south-1 ap-northeast-1 sa-east-1 ca-central-1".split()
SECRET = re.compile(rb'"secret":"([^"]+)"')

_conn = None
_target = None


def _connection():
    global _conn
    if _conn is None:
        _conn = http.client.HTTPConnection(*_target, timeout=300)
    return _conn


def _init(host, port):
    global _target
    _target = (host, port)


def name(rng, index):
    return f"{rng.choice(FIRST)} {rng.choice(SECOND)} {rng.choice(REGIONS)} {index:07d}"


def _create(job):
    """job = (admin, first_index, count) -> the secrets, one bytes object per key."""
    admin, first, count = job
    rng = random.Random(first)
    body = json.dumps({"keys": [{"name": name(rng, first + i), "scope": "read"} for i in range(count)]})
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    for attempt in range(2):
        conn = _connection()
        try:
            conn.request("POST", "/v1/api-keys/batch", body, headers)
            response = conn.getresponse()
            data = response.read()
            break
        except (http.client.HTTPException, OSError):
            global _conn
            conn.close()
            _conn = None
            if attempt:
                raise
    if response.status != 201:
        raise SystemExit(f"batch create failed: {response.status} {data[:300]!r}")
    secrets = SECRET.findall(data)
    if len(secrets) != count:
        raise SystemExit(f"batch create answered {len(secrets)} secrets for {count} items")
    return secrets


def _run(host, port, jobs, workers, out):
    start = time.perf_counter()
    keys = 0
    with multiprocessing.Pool(workers, initializer=_init, initargs=(host, port)) as pool:
        for secrets in pool.imap_unordered(_create, jobs):
            keys += len(secrets)
            if out:
                out.write(b"\n".join(secrets) + b"\n")
    seconds = time.perf_counter() - start
    print(f"{seconds:.1f} {keys} {keys / seconds:.0f}")


def main(argv):
    workers = 4
    if "--workers" in argv:
        i = argv.index("--workers")
        workers = int(argv[i + 1])
        del argv[i:i + 2]
    command = argv[0]
    if command == "load":
        host, port, admin, count, path = argv[1], int(argv[2]), argv[3], int(argv[4]), argv[5]
        jobs = [(admin, first, min(BATCH, count - first)) for first in range(0, count, BATCH)]
        with open(path, "wb") as out:
            _run(host, port, jobs, workers, out)
    elif command == "load-many":
        host, port, path, per = argv[1], int(argv[2]), argv[3], int(argv[4])
        admins = [json.loads(line)["secret"] for line in open(path) if line.strip()]
        jobs = []
        for w, admin in enumerate(admins):
            for first in range(0, per, BATCH):
                jobs.append((admin, 10_000_000 + w * per + first, min(BATCH, per - first)))
        _run(host, port, jobs, workers, None)
    elif command == "latency":
        host, port, token, path, count, limit = argv[1], int(argv[2]), argv[3], argv[4], int(argv[5]), float(argv[6])
        conn = http.client.HTTPConnection(host, port, timeout=120)
        headers = {"Authorization": f"Bearer {token}"}
        times, total, deadline = [], None, time.perf_counter() + limit
        for i in range(count + 5):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - t0
            if response.status != 200:
                raise SystemExit(f"GET {path}: {response.status} {data[:300]!r}")
            if i >= 5:
                times.append(elapsed)
            if i == 0 or i == count + 4:
                body = json.loads(data)
                total = body["meta"]["total"]
                returned = len(body["data"])
            if time.perf_counter() > deadline and len(times) >= 1:
                break
        times.sort()
        rank = lambda q: times[min(len(times) - 1, max(0, int(q * len(times) + 0.999999) - 1))]
        print(f"{rank(0.5) * 1000:.2f} {rank(0.99) * 1000:.2f} {len(times)} {total} {returned}")
    elif command == "revoke":
        host, port, admin, path, count = argv[1], int(argv[2]), argv[3], argv[4], int(argv[5])
        conn = http.client.HTTPConnection(host, port, timeout=60)
        headers = {"Authorization": f"Bearer {admin}"}
        ids = [line.split(":", 1)[0] for line in open(path).read().split()][:count]
        for key_id in ids:
            conn.request("DELETE", f"/v1/api-keys/{key_id}", headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise SystemExit(f"DELETE {key_id}: {response.status} {data[:300]!r}")
        print(len(ids))
    elif command == "pick":
        path, count, out = argv[1], int(argv[2]), argv[3]
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else None
        lines = open(path).read().split()
        picked = random.Random(seed).sample(lines, min(count, len(lines)))
        open(out, "w").write("\n".join(picked) + "\n")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
