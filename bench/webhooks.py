#!/usr/bin/env python3
"""Webhook throughput: starts one receiver per admin token, registers it as that workspace's webhook for
`api_key.created`, creates EVENTS keys (split between the workspaces, in batches), and prints how many
deliveries arrived and how fast, from the first create to the last delivery.

    bench/webhooks.py HOST PORT EVENTS TOKEN [TOKEN...]
"""
import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

host, port, events, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
received = 0
last = 0.0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would answer

    def do_POST(self):
        global received, last
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with lock:
            received += 1
            last = time.monotonic()

    def log_message(self, *args):
        pass


def call(conn, token, method, path, body):
    conn.request(method, path, json.dumps(body), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status not in (200, 201):
        sys.exit(f"{method} {path} failed: {response.status} {data!r}")


receivers = []
for _ in tokens:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receivers.append(server)

conn = http.client.HTTPConnection(host, port)
for token, server in zip(tokens, receivers):
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    call(conn, token, "POST", "/v1/webhooks", {"url": url, "events": ["api_key.created"]})

started = time.monotonic()
per_workspace = [events // len(tokens) + (1 if index < events % len(tokens) else 0) for index in range(len(tokens))]
for token, count in zip(tokens, per_workspace):
    for first in range(0, count, 1000):
        keys = [{"name": f"bench {first + index}"} for index in range(min(1000, count - first))]
        call(conn, token, "POST", "/v1/api-keys/batch", {"keys": keys})
created = time.monotonic() - started

deadline = started + 600
while time.monotonic() < deadline:
    with lock:
        if received >= events:
            break
    time.sleep(0.01)
with lock:
    count, elapsed = received, last - started
if count < events:
    sys.exit(f"only {count} of {events} deliveries arrived in {deadline - started:.0f} s")
print(f"{len(tokens)} receiver(s): {count} deliveries in {elapsed:.2f} s from the first create "
      f"(creates took {created:.2f} s): {count / elapsed:.0f} deliveries/s")
