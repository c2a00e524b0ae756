#!/usr/bin/env python3
"""The cost of SQLite's synchronous=FULL against NORMAL for Keysmith's writes, on this file system.

Each write is one transaction shaped like a key change (an api_keys row and a key_changes row), as a
create or revocation commits. Rounds alternate between the two modes on fresh WAL databases in the same
folder; the medians are printed. Usage: bench/sqlite-sync.py [--dir DIR] [--rounds 5] [--writes 300]
"""
import argparse
import os
import sqlite3
import statistics
import tempfile
import time


def run(directory: str, mode: str, writes: int) -> float:
    path = os.path.join(directory, f"sync-{mode}-{time.monotonic_ns()}.sqlite")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={mode}")
    db.execute("CREATE TABLE api_keys (id TEXT PRIMARY KEY, workspace_id TEXT, name TEXT, secret_hash BLOB, created_at INTEGER, revoked_at INTEGER)")
    db.execute("CREATE TABLE key_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT, changed_at INTEGER)")
    started = time.perf_counter()
    for index in range(writes):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO api_keys VALUES (?, 'ws', 'name', randomblob(32), ?, NULL)", (f"k{index:013d}", index))
        db.execute("INSERT INTO key_changes (key_id, changed_at) VALUES (?, ?)", (f"k{index:013d}", index))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return elapsed / writes * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=None, help="folder on the file system to measure (default: a temporary folder in the current one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix=".sqlite-sync-", dir=".")
    results = {"NORMAL": [], "FULL": []}
    for round_number in range(args.rounds):
        for mode in (("NORMAL", "FULL") if round_number % 2 == 0 else ("FULL", "NORMAL")):
            results[mode].append(run(directory, mode, args.writes))
    normal, full = statistics.median(results["NORMAL"]), statistics.median(results["FULL"])
    print(f"sqlite {sqlite3.sqlite_version}, {args.rounds} rounds x {args.writes} write transactions, in {os.path.abspath(directory)}")
    print(f"synchronous=NORMAL: median {normal:8.1f} us per write transaction  (rounds: {', '.join(f'{v:.0f}' for v in results['NORMAL'])})")
    print(f"synchronous=FULL:   median {full:8.1f} us per write transaction  (rounds: {', '.join(f'{v:.0f}' for v in results['FULL'])})")
    print(f"FULL / NORMAL: {full / normal:.2f}")
    if args.dir is None:
        os.rmdir(directory)


if __name__ == "__main__":
    main()
