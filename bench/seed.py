#!/usr/bin/env python3
"""Creates N keys through the API (keep-alive, sequential) and prints one read-scope bearer token."""
import http.client
import json
import sys

host, port, admin, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection(host, port)
headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
token = None
for index in range(count):
    conn.request("POST", "/v1/api-keys", json.dumps({"name": f"bench key {index}", "scope": "read"}), headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 201:
        sys.exit(f"create failed: {response.status} {body!r}")
    if index == count // 2:
        token = json.loads(body)["secret"]
print(token)
