#!/usr/bin/env python3
"""PgQueuer (asyncpg) doing W1 (drain) and W3 (latency) against the Bitrix24 simulator.

Each job is one `im.notify.personal.add` call through a shared aiohttp session, as a user of
PgQueuer would write it. Prints one JSON object (version, settings, w1, w3) on stdout.

W1: N jobs are enqueued first (untimed); the clock runs from the start of `QueueManager.run`
until every handler has returned and the `pgqueuer` table holds no job (PgQueuer deletes a
job when it logs its completion). W1 runs --repeat times (default 3) and the fastest run is
reported, all runs listed: on a busy machine this favours the peer.
W3: one job at a time into the idle worker; a sample is the time from just before `enqueue`
until the job's HTTP call returned (the handler records it, same process, same clock). The
next job is enqueued after the queue has recorded the previous one as done; the time until the
poll (every 1 ms) sees that is reported too, as w3.recorded.

Usage: pgqueuer_bench.py --dsn DSN --webhook URL --simulator http://HOST:PORT [options]
"""
import argparse
import asyncio
import json
import sys
import time

import aiohttp
import asyncpg
import pgqueuer
from pgqueuer import AsyncpgDriver, AsyncpgPoolDriver, QueueManager, Queries

import peercommon

ENTRYPOINT = "notify"


async def remaining_jobs(conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM pgqueuer")


async def make_manager(args, http, on_done):
    """A QueueManager with one entrypoint that sends the notification and reports to `on_done`."""
    if args.driver == "pool":
        pool = await asyncpg.create_pool(args.dsn, min_size=2, max_size=args.pool_size)
        qm, closer = QueueManager(Queries(AsyncpgPoolDriver(pool))), pool.close
    else:
        conn = await asyncpg.connect(args.dsn)
        qm, closer = QueueManager(Queries(AsyncpgDriver(conn))), conn.close

    @qm.entrypoint(ENTRYPOINT)
    async def notify(job: pgqueuer.Job) -> None:
        params = json.loads(job.payload)
        try:
            await peercommon.call_notify(http, args.webhook, params)
        except Exception as error:
            on_done(params, error)
            raise
        on_done(params, None)

    return qm, closer


def run_options(args) -> dict:
    options = {"batch_size": args.batch_size}
    if args.max_concurrent_tasks:
        options["max_concurrent_tasks"] = args.max_concurrent_tasks
    return options


async def drain(args, admin, queries, http) -> dict:
    """W1: enqueue N, then time the worker until all are done."""
    await queries.clear_queue()
    await queries.clear_queue_log()
    await queries.clear_statistics_log()
    for start in range(0, args.jobs, 5000):
        chunk = range(start, min(args.jobs, start + 5000))
        await queries.enqueue(
            [ENTRYPOINT] * len(chunk),
            [json.dumps(peercommon.notify_params(i, "pgqueuer")).encode() for i in chunk],
            [0] * len(chunk))
    await admin.execute("VACUUM ANALYZE pgqueuer, pgqueuer_log, pgqueuer_statistics")  # each run starts clean
    peercommon.simulator_reset(args.simulator)

    finished = asyncio.Event()
    counts = {"done": 0, "errors": 0, "first_error": None}

    def on_done(params, error):
        counts["done"] += 1
        if error is not None:
            counts["errors"] += 1
            counts["first_error"] = counts["first_error"] or repr(error)[:300]
        if counts["done"] == args.jobs:
            finished.set()

    qm, closer = await make_manager(args, http, on_done)
    started = time.perf_counter()
    worker = asyncio.create_task(qm.run(**run_options(args)))
    done_wait = asyncio.create_task(finished.wait())
    await asyncio.wait({worker, done_wait}, return_when=asyncio.FIRST_COMPLETED)
    if worker.done():
        worker.result()  # raises what stopped the worker
    handlers_seconds = time.perf_counter() - started
    while await remaining_jobs(admin) > 0:
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    qm.shutdown.set()
    await worker
    await closer()

    created = peercommon.delivered(peercommon.simulator_state(args.simulator))
    return {
        "jobs": args.jobs,
        "seconds": round(seconds, 3),
        "jobs_per_second": round(args.jobs / seconds, 1),
        "handlers_seconds": round(handlers_seconds, 3),
        "delivered": created,
        "errors": counts["errors"],
        "first_error": counts["first_error"],
    }


async def latency(args, admin, queries, http) -> dict:
    """W3: one job at a time into an idle worker."""
    await queries.clear_queue()
    peercommon.simulator_reset(args.simulator)
    waiting: dict = {}

    def on_done(params, error):
        future = waiting.pop(params["TAG"], None)
        if future is not None and not future.done():
            if error is None:
                future.set_result(time.perf_counter())
            else:
                future.set_exception(error)

    qm, closer = await make_manager(args, http, on_done)
    worker = asyncio.create_task(qm.run(**run_options(args)))
    await asyncio.sleep(0.5)  # let the worker start listening
    samples, recorded = [], []
    for index in range(args.warmup + args.samples):
        params = peercommon.notify_params(index, "pgqueuer-w3")
        future = asyncio.get_running_loop().create_future()
        waiting[params["TAG"]] = future
        enqueued = time.perf_counter()
        await queries.enqueue(ENTRYPOINT, json.dumps(params).encode())
        done = await asyncio.wait_for(future, timeout=30)
        while await remaining_jobs(admin) > 0:  # the worker is idle again
            await asyncio.sleep(0.001)
        if index >= args.warmup:
            samples.append((done - enqueued) * 1000)
            recorded.append((time.perf_counter() - enqueued) * 1000)
        await asyncio.sleep(args.pause)
    qm.shutdown.set()
    await worker
    await closer()
    summary = peercommon.latency_summary(samples)
    summary["recorded"] = peercommon.latency_summary(recorded)
    return summary


async def main_async(args) -> dict:
    admin = await asyncpg.connect(args.dsn)
    queries = Queries(AsyncpgDriver(admin))
    if not await queries.schema_is_installed():
        await queries.install()
    result = {"version": pgqueuer.__version__, "settings": settings(args)}
    async with aiohttp.ClientSession() as http:
        if args.jobs > 0:
            attempts = [await drain(args, admin, queries, http) for _ in range(args.repeat)]
            result["w1"] = peercommon.best_of(attempts)
        if args.samples > 0:
            result["w3"] = await latency(args, admin, queries, http)
    await admin.close()
    return result


def settings(args) -> dict:
    return {
        "driver": "asyncpg " + ("pool" if args.driver == "pool" else "connection") + f" ({asyncpg.__version__})",
        "batch_size": args.batch_size,
        "max_concurrent_tasks": args.max_concurrent_tasks or "unlimited",
        "event_loop": "uvloop" if args.uvloop else "asyncio",
        "http_client": f"aiohttp {aiohttp.__version__}, one ClientSession (connection limit 100)",
        "workers": 1,
        "w1_runs": args.repeat,
        "w3_warmup": args.warmup,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True, help="database to use (PgQueuer's schema is installed there)")
    parser.add_argument("--webhook", required=True, help="incoming webhook URL of the simulator, ending in /")
    parser.add_argument("--simulator", required=True, help="simulator base URL, for /_sim/state and /_sim/reset")
    parser.add_argument("--jobs", type=int, default=10_000, help="W1 jobs (0: skip W1)")
    parser.add_argument("--repeat", type=int, default=3, help="W1 runs; the fastest is reported, all are listed")
    parser.add_argument("--samples", type=int, default=200, help="W3 samples (0: skip W3)")
    parser.add_argument("--warmup", type=int, default=20, help="W3 jobs sent before sampling")
    parser.add_argument("--pause", type=float, default=0.01, help="W3 seconds of idleness between jobs")
    parser.add_argument("--batch-size", type=int, default=10, help="QueueManager.run batch_size")
    parser.add_argument("--max-concurrent-tasks", type=int, default=0, help="QueueManager.run max_concurrent_tasks (0: unlimited)")
    parser.add_argument("--driver", choices=["connection", "pool"], default="connection")
    parser.add_argument("--pool-size", type=int, default=10, help="with --driver pool")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.install()
    print(json.dumps(asyncio.run(main_async(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
