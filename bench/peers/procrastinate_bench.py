#!/usr/bin/env python3
"""procrastinate (psycopg 3) doing W1 (drain) and W3 (latency) against the Bitrix24 simulator.

Each job is one `im.notify.personal.add` call through a shared aiohttp session, as a user of
procrastinate would write it. Prints one JSON object (version, settings, w1, w3) on stdout.

W1: N jobs are deferred first (untimed); the clock runs from the start of the worker until
every task has returned and no job is left `todo` or `doing` in `procrastinate_jobs`. W1 runs
--repeat times (default 3) and the fastest run is reported, all runs listed.
W3: one job at a time into the idle worker; a sample is the time from just before
`defer_async` until the job's HTTP call returned (the task records it, same process, same
clock). The next job is deferred after procrastinate has recorded the previous one as done; the
time until the poll (every 1 ms) sees that is reported too, as w3.recorded.

Usage: procrastinate_bench.py --dsn DSN --webhook URL --simulator http://HOST:PORT [options]
"""
import argparse
import asyncio
import json
import sys
import time
from importlib.metadata import version

import aiohttp
import procrastinate
import psycopg

import peercommon

UNFINISHED = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"


class Bench:
    """One procrastinate App with one task that sends the notification and reports to `on_done`."""

    def __init__(self, args):
        self.args = args
        self.http = None
        self.on_done = lambda params, error: None
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=args.dsn, min_size=2, max_size=args.pool_size))

        @self.app.task(name="notify")
        async def notify(**params) -> None:
            try:
                await peercommon.call_notify(self.http, args.webhook, params)
            except Exception as error:
                self.on_done(params, error)
                raise
            self.on_done(params, None)

        self.notify = notify

    def worker(self) -> asyncio.Task:
        return asyncio.create_task(self.app.run_worker_async(
            concurrency=self.args.concurrency,
            wait=True,
            listen_notify=True,
            fetch_job_polling_interval=self.args.polling_interval,
            delete_jobs=self.args.delete_jobs,
            install_signal_handlers=False,
        ))


async def unfinished(admin) -> int:
    async with admin.cursor() as cursor:
        await cursor.execute(UNFINISHED)
        return (await cursor.fetchone())[0]


async def stop(worker: asyncio.Task) -> None:
    worker.cancel()
    try:
        await worker
    except asyncio.CancelledError:
        pass


async def drain(bench, admin) -> dict:
    """W1: defer N, then time the worker until all are done."""
    args = bench.args
    await admin.execute("DELETE FROM procrastinate_jobs")
    for start in range(0, args.jobs, 1000):
        chunk = range(start, min(args.jobs, start + 1000))
        await bench.notify.batch_defer_async(*(peercommon.notify_params(i, "procrastinate") for i in chunk))
    await admin.execute("VACUUM ANALYZE procrastinate_jobs, procrastinate_events")  # each run starts clean
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

    bench.on_done = on_done
    started = time.perf_counter()
    worker = bench.worker()
    done_wait = asyncio.create_task(finished.wait())
    await asyncio.wait({worker, done_wait}, return_when=asyncio.FIRST_COMPLETED)
    if worker.done():
        worker.result()  # raises what stopped the worker
    handlers_seconds = time.perf_counter() - started
    while await unfinished(admin) > 0:
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    await stop(worker)

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


async def latency(bench, admin) -> dict:
    """W3: one job at a time into an idle worker."""
    args = bench.args
    await admin.execute("DELETE FROM procrastinate_jobs")
    peercommon.simulator_reset(args.simulator)
    waiting: dict = {}

    def on_done(params, error):
        future = waiting.pop(params["TAG"], None)
        if future is not None and not future.done():
            if error is None:
                future.set_result(time.perf_counter())
            else:
                future.set_exception(error)

    bench.on_done = on_done
    worker = bench.worker()
    await asyncio.sleep(0.5)  # let the worker start listening
    samples, recorded = [], []
    for index in range(args.warmup + args.samples):
        params = peercommon.notify_params(index, "procrastinate-w3")
        future = asyncio.get_running_loop().create_future()
        waiting[params["TAG"]] = future
        enqueued = time.perf_counter()
        await bench.notify.defer_async(**params)
        done = await asyncio.wait_for(future, timeout=30)
        while await unfinished(admin) > 0:  # the worker is idle again
            await asyncio.sleep(0.001)
        if index >= args.warmup:
            samples.append((done - enqueued) * 1000)
            recorded.append((time.perf_counter() - enqueued) * 1000)
        await asyncio.sleep(args.pause)
    await stop(worker)
    summary = peercommon.latency_summary(samples)
    summary["recorded"] = peercommon.latency_summary(recorded)
    return summary


async def main_async(args) -> dict:
    bench = Bench(args)
    admin = await psycopg.AsyncConnection.connect(args.dsn, autocommit=True)
    async with admin.cursor() as cursor:
        await cursor.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        installed = (await cursor.fetchone())[0]
    result = {"version": version("procrastinate"), "settings": settings(args)}
    async with bench.app.open_async(), aiohttp.ClientSession() as http:
        if not installed:
            await bench.app.schema_manager.apply_schema_async()
        bench.http = http
        if args.jobs > 0:
            attempts = [await drain(bench, admin) for _ in range(args.repeat)]
            result["w1"] = peercommon.best_of(attempts)
        if args.samples > 0:
            result["w3"] = await latency(bench, admin)
    await admin.close()
    return result


def settings(args) -> dict:
    return {
        "driver": f"psycopg {psycopg.__version__} pool (max_size {args.pool_size})",
        "concurrency": args.concurrency,
        "listen_notify": True,
        "fetch_job_polling_interval": args.polling_interval,
        "delete_jobs": args.delete_jobs,
        "event_loop": "asyncio",
        "http_client": f"aiohttp {aiohttp.__version__}, one ClientSession (connection limit 100)",
        "workers": 1,
        "w1_runs": args.repeat,
        "w3_warmup": args.warmup,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True, help="database to use (procrastinate's schema is applied there)")
    parser.add_argument("--webhook", required=True, help="incoming webhook URL of the simulator, ending in /")
    parser.add_argument("--simulator", required=True, help="simulator base URL, for /_sim/state and /_sim/reset")
    parser.add_argument("--jobs", type=int, default=2_000, help="W1 jobs (0: skip W1)")
    parser.add_argument("--repeat", type=int, default=3, help="W1 runs; the fastest is reported, all are listed")
    parser.add_argument("--samples", type=int, default=200, help="W3 samples (0: skip W3)")
    parser.add_argument("--warmup", type=int, default=20, help="W3 jobs sent before sampling")
    parser.add_argument("--pause", type=float, default=0.01, help="W3 seconds of idleness between jobs")
    parser.add_argument("--concurrency", type=int, default=20, help="jobs the worker runs at once")
    parser.add_argument("--pool-size", type=int, default=25, help="psycopg pool max_size")
    parser.add_argument("--polling-interval", type=float, default=5.0, help="fetch_job_polling_interval (fallback to LISTEN/NOTIFY)")
    parser.add_argument("--delete-jobs", choices=["never", "successful", "always"], default="never")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
