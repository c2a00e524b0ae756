#!/usr/bin/env python3
"""How far the plain share rule lets a shared rate limit overshoot (README, "Rate limits").

The rule: each instance serves a key from its view (the total read at its last exchange plus what it
served since), and between two exchanges serves at most ceil((limit - total) / instances), at least 1
while anything is left. Instances exchange every INTERVAL on their own phase, an exchange commits and
answers after LATENCY; every instance receives Poisson requests at RATE a second from a cold start, for
one window (nothing leaves it). Prints, per rate, the requests served of LIMIT over SEEDS runs.

    bench/rate-limit-rule.py [--instances 3] [--limit 100] [--interval 0.1] [--latency 0.003] [--seeds 200]

Keysmith does not use this rule alone: it claims each share in the shared count before serving it (see
RateLimiter), which `RateLimiterTests` simulates the same way.
"""

import argparse
import heapq
import math
import random


def simulate(instances, limit, rate, interval, latency, duration, seed):
    rnd = random.Random(seed)
    reported = 0                    # the shared total in the database
    known = [0] * instances         # the total each instance read at its last exchange
    unreported = [0] * instances    # served, not yet sent
    sending = [0] * instances       # in the exchange in flight
    share = [math.ceil(limit / instances)] * instances
    used = [0] * instances          # served since the last exchange answered
    served = 0
    events = []
    for i in range(instances):
        events.append((rnd.expovariate(rate), "request", i))
        events.append((rnd.uniform(0, interval), "send", i))
    heapq.heapify(events)
    while events:
        time, kind, i = heapq.heappop(events)
        if time > duration:
            break
        if kind == "request":
            if known[i] + unreported[i] + sending[i] < limit and used[i] < share[i]:
                unreported[i] += 1
                used[i] += 1
                served += 1
            heapq.heappush(events, (time + rnd.expovariate(rate), "request", i))
        elif kind == "send":
            sending[i], unreported[i] = unreported[i], 0
            heapq.heappush(events, (time + latency, "answer", i))
        else:
            reported += sending[i]
            sending[i] = 0
            known[i] = reported
            left = limit - reported
            share[i] = max(1, math.ceil(left / instances)) if left > 0 else 0
            used[i] = 0
            heapq.heappush(events, (time + interval - latency, "send", i))
    return served


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between exchanges")
    parser.add_argument("--latency", type=float, default=0.003, help="seconds an exchange takes")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds, within one window")
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    for rate in (100, 300, 1000, 3000):
        runs = [simulate(args.instances, args.limit, rate, args.interval, args.latency, args.duration, seed)
                for seed in range(args.seeds)]
        print(f"{rate:>5} requests/s per instance: served {min(runs)} to {max(runs)} of {args.limit} "
              f"(mean {sum(runs) / len(runs):.1f}; over {args.limit * 1.1:.0f} in {sum(r > args.limit * 1.1 for r in runs)} of {len(runs)} runs)")


if __name__ == "__main__":
    main()
