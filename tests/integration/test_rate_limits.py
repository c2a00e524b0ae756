"""Per-key rate limits shared by several `keysmith serve` processes on one PostgreSQL database.

Needs KEYSMITH_TEST_POSTGRES_URL (scripts/test.sh sets it); without it every test here is skipped.
The measured counts are printed (see them with `-rA`).
"""

import threading
import time

import requests

LIMIT = 100
WINDOW_SECONDS = 10
HAMMER_SECONDS = 10.0
THREADS_PER_INSTANCE = 4
TOO_MANY_REQUESTS = {"statusCode": 429, "message": "Too Many Requests", "error": "Too Many Requests"}


def create_limited_key(cluster, limit: int, window_seconds: int) -> dict:
    ws = cluster.workspace()
    response = cluster.a.post("/v1/api-keys", {"name": "limited", "scope": "read",
                                               "rate_limit": {"limit": limit, "window_seconds": window_seconds}}, ws["secret"])
    assert response.status_code == 201, f"POST /v1/api-keys: {response.status_code} {response.text[:300]}"
    key = response.json()
    assert key["rate_limit"] == {"limit": limit, "window_seconds": window_seconds}, key
    return key


def test_three_instances_hammered_share_one_limit(cluster):
    """A key with 100 requests per 10 s, hammered on all three instances at once for 10 s: between 95 and 110
    of the requests are served (the bound is the limit plus one per other instance, README "Rate limits")."""
    key = create_limited_key(cluster, LIMIT, WINDOW_SECONDS)
    token = key["secret"]
    time.sleep(1.5)  # every instance has seen the others live (they exchange at least once a second)

    lock = threading.Lock()
    served = {s.name: 0 for s in cluster.servers}
    refused = {s.name: 0 for s in cluster.servers}
    problems: list[str] = []
    refusal_sample: list[requests.Response] = []
    start = threading.Barrier(len(cluster.servers) * THREADS_PER_INSTANCE + 1)

    def hammer(server):
        session = requests.Session()  # keep-alive: one connection per thread
        url = server.base + "/v1/auth/verify"
        headers = {"Authorization": f"Bearer {token}"}
        ok = no = 0
        try:
            start.wait(timeout=30)
            deadline = time.monotonic() + HAMMER_SECONDS
            while time.monotonic() < deadline:
                response = session.get(url, headers=headers, timeout=10)
                if response.status_code == 200:
                    ok += 1
                elif response.status_code == 429:
                    no += 1
                    if not refusal_sample:
                        refusal_sample.append(response)
                else:
                    with lock:
                        problems.append(f"{server.name}: {response.status_code} {response.text[:200]}")
                    return
        except Exception as error:  # reported below
            with lock:
                problems.append(f"{server.name}: {error!r}")
        finally:
            session.close()
            with lock:
                served[server.name] += ok
                refused[server.name] += no

    threads = [threading.Thread(target=hammer, args=(server,)) for server in cluster.servers for _ in range(THREADS_PER_INSTANCE)]
    for thread in threads:
        thread.start()
    start.wait(timeout=30)
    began = time.monotonic()
    for thread in threads:
        thread.join(timeout=HAMMER_SECONDS + 30)
    elapsed = time.monotonic() - began

    total_served = sum(served.values())
    total = total_served + sum(refused.values())
    print(f"rate limit {LIMIT}/{WINDOW_SECONDS}s on 3 instances for {elapsed:.1f}s: served {total_served} "
          f"({served}), refused {sum(refused.values())}, {total / elapsed:.0f} requests/s")
    assert not problems, "\n".join(problems[:10])
    assert total > 3 * LIMIT, f"only {total} requests were made: the instances were not hammered"
    assert 95 <= total_served <= 110, f"served {total_served} requests of a limit of {LIMIT} ({served})"

    refusal = refusal_sample[0]
    assert refusal.json() == TOO_MANY_REQUESTS and refusal.text == \
        '{"statusCode":429,"message":"Too Many Requests","error":"Too Many Requests"}', refusal.text
    assert int(refusal.headers["Retry-After"]) >= 1
    assert refusal.headers["RateLimit-Limit"] == str(LIMIT)
    assert refusal.headers["RateLimit-Remaining"] == "0"
    assert int(refusal.headers["RateLimit-Reset"]) >= 1

    # The shared counts are in the database, and every instance refuses the key now.
    stored = int(cluster_psql(cluster, f"SELECT coalesce(sum(count), 0) FROM rate_counts WHERE key_id = '{key['id']}'"))
    assert stored >= total_served, f"the database holds {stored} requests of the key, {total_served} were served"
    for server in cluster.servers:
        response = server.get("/v1/auth/whoami", token)
        assert response.status_code == 429, f"{server.name}: {response.status_code} {response.text[:200]}"
        # Concurrent exchanges touch the same rows; they must never fail (a deadlock did, once).
        failures = [line for line in server.stderr().splitlines() if "rate-limit" in line and " error " in line]
        assert not failures, f"{server.name}: " + "\n".join(failures[:3])


def test_a_key_used_on_one_instance_after_another_is_served_then_refused_everywhere(cluster):
    """A key with 20 per 60 s, used five times on A, then on B, then on C, a request every 0.1 s: all are
    served. Then requests go to the three in turn for 2 s: in all, the limit is used (give or take a request
    per other instance), every instance ends refusing, and each refusal is the 429 of the issue."""
    key = create_limited_key(cluster, 20, 60)
    token = key["secret"]
    served = 0
    for server in cluster.servers:
        for _ in range(5):
            response = server.get("/v1/auth/whoami", token)
            assert response.status_code == 200, f"{server.name}: {response.status_code} {response.text[:200]}"
            assert response.headers["RateLimit-Limit"] == "20"
            served += 1
            time.sleep(0.1)
    # Then to each in turn for 2 s: the last shares of the limit move to whoever asks within an exchange or two.
    last: dict[str, int] = {}
    deadline = time.monotonic() + 2.0
    attempt = 0
    while time.monotonic() < deadline:
        server = cluster.servers[attempt % 3]
        attempt += 1
        response = server.get("/v1/auth/whoami", token)
        last[server.name] = response.status_code
        if response.status_code == 200:
            served += 1
        else:
            assert response.status_code == 429, f"{server.name}: {response.status_code} {response.text[:200]}"
            assert response.text == '{"statusCode":429,"message":"Too Many Requests","error":"Too Many Requests"}'
            assert int(response.headers["Retry-After"]) >= 1
        time.sleep(0.05)
    print(f"limit 20/60s used on A, B, C in turn: {served} served")
    assert last == {"A": 429, "B": 429, "C": 429}, f"last answers {last} after {served} served"
    assert 18 <= served <= 22, f"{served} served of a limit of 20"


def cluster_psql(cluster, sql: str) -> str:
    from keysmith_harness import psql
    return psql(cluster.database, sql)
