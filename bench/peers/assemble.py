#!/usr/bin/env python3
"""Joins the peers' JSON outputs into one report, with the date and the machine.

Usage: assemble.py OUT --postgres VERSION --load LOADAVG --command CMD [NAME=FILE ...]

A FILE that is missing or holds no JSON becomes {"error": <its last lines>} for that peer, so
one failing peer does not hide the others. Prints a short summary and writes OUT.
"""
import argparse
import datetime
import json
import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load(path: str) -> dict:
    try:
        with open(path) as file:
            text = file.read()
    except OSError as error:
        return {"error": str(error)}
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {"error": "no result: " + " | ".join(text.strip().splitlines()[-3:])[:500]}


def figure(report: dict, *path) -> str:
    value = report
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return "—"
        value = value[key]
    return f"{value:,}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--postgres", default="unknown")
    parser.add_argument("--load", default="", help="load average when the run started")
    parser.add_argument("--command", default="")
    parser.add_argument("peers", nargs="*", metavar="NAME=FILE")
    args = parser.parse_intermixed_args()

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": args.command,
        "machine": {
            "cpus": os.cpu_count(),
            "model": cpu_model(),
            "kernel": platform.release(),
            "postgres": args.postgres,
            "load_average_at_start": args.load,
        },
    }
    for item in args.peers:
        name, _, path = item.partition("=")
        report[name] = load(path)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as file:
        json.dump(report, file, indent=2, ensure_ascii=False)
        file.write("\n")

    print(f"peers on {report['machine']['cpus']} CPUs ({report['machine']['model']}), {args.postgres}")
    if "baseline" in report:
        print(f"  no queue, {figure(report['baseline'], 'http_client')}: {figure(report['baseline'], 'w1_http_only', 'calls_per_second')}"
              f" calls/s at concurrency {figure(report['baseline'], 'w1_http_only', 'concurrency')}")
    for name in ("pgqueuer", "procrastinate"):
        if name in report:
            peer = report[name]
            print(f"  {name} {figure(peer, 'version')}: W1 {figure(peer, 'w1', 'jobs_per_second')} jobs/s"
                  f" ({figure(peer, 'w1', 'jobs')} jobs), W3 p50 {figure(peer, 'w3', 'p50_ms')} ms,"
                  f" p99 {figure(peer, 'w3', 'p99_ms')} ms, max {figure(peer, 'w3', 'max_ms')} ms"
                  f" (recorded as done: p50 {figure(peer, 'w3', 'recorded', 'p50_ms')} ms)"
                  + (f"; error: {peer['error']}" if "error" in peer else ""))
    if "fast_bitrix24" in report:
        peer = report["fast_bitrix24"]
        print(f"  fast_bitrix24 {figure(peer, 'version')}: W2 delivered {figure(peer, 'w2', 'delivered')}"
              f" of {figure(peer, 'w2', 'sent')}, steady {figure(peer, 'w2', 'steady_per_second')}/s,"
              f" QUERY_LIMIT_EXCEEDED {figure(peer, 'w2', 'query_limit_exceeded')},"
              f" finished {figure(peer, 'w2', 'finished')}, error {figure(peer, 'w2', 'error')}"
              + (f"; error: {peer['error']}" if "error" in peer else ""))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
