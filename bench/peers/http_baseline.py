#!/usr/bin/env python3
"""About the ceiling of the queues' W1: the same notification calls with no queue at all.

N `im.notify.personal.add` calls through one aiohttp session (`peercommon.call_notify`, as the
queues' jobs make them), C at a time, against the simulator, once for each C of --concurrency.
The fastest run is reported as w1_http_only, every run under runs. A one-process Python worker
making these calls does not get much past this figure on the same machine, so it shows how
much of a peer's time is its queue and how much the HTTP call. Prints one JSON object on stdout.

Usage: http_baseline.py --webhook URL --simulator http://HOST:PORT [--calls 10000] [--concurrency 10,50]
"""
import argparse
import asyncio
import json
import sys
import time

import aiohttp

import peercommon


async def run(args, concurrency: int) -> dict:
    peercommon.simulator_reset(args.simulator)
    queue = iter(range(args.calls))
    errors = 0

    async def caller(http):
        nonlocal errors
        for index in queue:
            try:
                await peercommon.call_notify(http, args.webhook, peercommon.notify_params(index, "baseline"))
            except Exception:
                errors += 1

    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await asyncio.gather(*(caller(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "calls": args.calls,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "calls_per_second": round(args.calls / seconds, 1),
        "delivered": peercommon.delivered(peercommon.simulator_state(args.simulator)),
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhook", required=True, help="incoming webhook URL of the simulator, ending in /")
    parser.add_argument("--simulator", required=True, help="simulator base URL, for /_sim/state and /_sim/reset")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--concurrency", default="10,50", help="comma-separated calls in flight")
    args = parser.parse_args()
    runs = [asyncio.run(run(args, int(c))) for c in args.concurrency.split(",")]
    best = max(runs, key=lambda r: r["calls_per_second"])
    print(json.dumps({"http_client": f"aiohttp {aiohttp.__version__}", "w1_http_only": best, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
