#!/usr/bin/env python3
"""fast_bitrix24 doing W2: 6,000 `im.notify.personal.add` calls through `Bitrix.call()` against a
simulator that enforces Bitrix24's bucket (50 requests, drain 2/s) with 20 ms latency.

fast_bitrix24 packs the calls into `batch` requests of 50 and throttles them itself (its
defaults match the real bucket: request_pool_size 50, requests_per_second 2). The simulator's
/_sim/state is sampled every 0.25 s to see deliveries and `QUERY_LIMIT_EXCEEDED` refusals over
time. The call runs in a thread capped at --timeout seconds, so a stuck client cannot hang the
run. Prints one JSON object (version, settings, w2) on stdout.

Steady rate: notifications delivered from t = 10 s (the initial bucket of 50 requests is spent
by then) until the last delivery, per second.

Usage: fast_bitrix24_w2.py --webhook URL --simulator http://HOST:PORT [--calls 6000] [--timeout 180]
"""
import argparse
import json
import os
import sys
import threading
import time
from importlib.metadata import version

from fast_bitrix24 import Bitrix

import peercommon

STEADY_FROM = 10.0  # seconds


def sample(simulator: str) -> tuple:
    state = peercommon.simulator_state(simulator)
    return peercommon.delivered(state), state["rejected"].get("QUERY_LIMIT_EXCEEDED", 0)


def at(series: list, seconds: float) -> tuple:
    """The first sample taken at or after `seconds` (or the last one)."""
    for point in series:
        if point[0] >= seconds:
            return point
    return series[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhook", required=True, help="incoming webhook URL of the rate-limited simulator")
    parser.add_argument("--simulator", required=True, help="its base URL, for /_sim/state and /_sim/reset")
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--timeout", type=float, default=180, help="give the client at most this many seconds")
    parser.add_argument("--request-pool-size", type=int, default=50, help="Bitrix(request_pool_size=…), 50 by default")
    args = parser.parse_args()

    items = [peercommon.notify_params(i, "fast-bitrix24") for i in range(args.calls)]
    settings = {"respect_velocity_policy": True, "request_pool_size": args.request_pool_size, "requests_per_second": 2.0, "batch_size": 50}
    bitrix = Bitrix(args.webhook, verbose=False, **settings)
    peercommon.simulator_reset(args.simulator)

    outcome = {"results": None, "error": None}

    def send():
        try:
            outcome["results"] = bitrix.call("im.notify.personal.add", items)
        except BaseException as error:  # what made the client give up
            outcome["error"] = f"{type(error).__name__}: {error}".replace(args.webhook, "<webhook>")[:500]

    series = []
    started = time.monotonic()
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    while thread.is_alive() and time.monotonic() - started < args.timeout:
        series.append((time.monotonic() - started, *sample(args.simulator)))
        thread.join(timeout=0.25)
    seconds = time.monotonic() - started
    finished = not thread.is_alive()
    time.sleep(0.5)  # answers in flight land
    series.append((time.monotonic() - started, *sample(args.simulator)))
    if not finished:
        outcome["error"] = f"still running after {args.timeout:.0f} s (stopped)"

    delivered, refused = series[-1][1], series[-1][2]
    last_delivery = next(point for point in series if point[1] == delivered)[0]
    start_point = at(series, STEADY_FROM)
    steady_seconds = last_delivery - start_point[0]
    steady = (delivered - start_point[1]) / steady_seconds if steady_seconds > 0 else None

    results = outcome["results"]
    report = {
        "version": version("fast_bitrix24"),
        "settings": {**settings, "call": "Bitrix.call('im.notify.personal.add', list of dicts)",
                     "timeout_seconds": args.timeout},
        "w2": {
            "sent": args.calls,
            "delivered": delivered,
            "seconds": round(seconds, 3),
            "steady_per_second": round(steady, 1) if steady is not None else None,
            "query_limit_exceeded": refused,
            "query_limit_exceeded_after_10s": refused - start_point[2],
            "finished": finished and outcome["error"] is None,
            "results_returned": len(results) if results is not None else 0,
            "error": outcome["error"],
        },
    }
    print(json.dumps(report))
    sys.stdout.flush()
    os._exit(0)  # a client still running in its thread is abandoned, not joined


if __name__ == "__main__":
    sys.exit(main())
