#!/usr/bin/env python3
"""Puts b24outbox's benchmark figures beside its peers' and checks the targets.

Usage: bench/compare.py OURS.json PEERS.json [--markdown]

OURS.json is written by `b24outbox bench --json FILE`, PEERS.json by `bench/peers/run.sh`.
For each workload it prints our figure, each peer's figure and the ratio: ours/peer for
throughput, peer/ours for latency, so a ratio above 1× always means b24outbox is ahead. Then
each target of the speed issue with pass or miss. A figure missing from either file shows as
"—" (and its target as "—", not as a miss). Exit status: 0, whatever the targets say.
"""
import argparse
import json
import sys

PEERS = [("pgqueuer", "PgQueuer"), ("procrastinate", "procrastinate"), ("fast_bitrix24", "fast_bitrix24")]


def get(data, *path):
    """The number at `path` in nested dicts, or None when any part is missing or not a number."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    if isinstance(data, bool):
        return data
    return data if isinstance(data, (int, float)) else None


def number(value, digits=1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}" if abs(value) >= 10 else f"{value:,.{max(digits, 2)}f}"


def ratio(numerator, denominator) -> str:
    if numerator is None or denominator is None or isinstance(numerator, bool) or denominator == 0:
        return "—"
    return f"{numerator / denominator:,.1f}×"


# Rows: label, our path, each peer's path (None: that peer does not run it), and how to compare:
# "more" (throughput: ours/peer), "less" (latency: peer/ours), or None (no ratio).
ROWS = [
    ("W1 drain, per second", ("w1", "intents_per_second"),
     {"pgqueuer": ("w1", "jobs_per_second"), "procrastinate": ("w1", "jobs_per_second")}, "more"),
    ("W1 unbatched (1 call per intent), per second", ("w1", "unbatched", "intents_per_second"),
     {"pgqueuer": ("w1", "jobs_per_second"), "procrastinate": ("w1", "jobs_per_second")}, "more"),
    ("W1 items", ("w1", "intents"),
     {"pgqueuer": ("w1", "jobs"), "procrastinate": ("w1", "jobs")}, None),
    ("W2 rate-limited, steady per second", ("w2", "steady_per_second"),
     {"fast_bitrix24": ("w2", "steady_per_second")}, "more"),
    ("W2 delivered (of 6,000)", ("w2", "delivered"), {"fast_bitrix24": ("w2", "delivered")}, "more"),
    ("W2 QUERY_LIMIT_EXCEEDED answers", ("w2", "query_limit_exceeded"),
     {"fast_bitrix24": ("w2", "query_limit_exceeded")}, None),
    ("W2 QUERY_LIMIT_EXCEEDED after 10 s", ("w2", "query_limit_exceeded_after_10s"),
     {"fast_bitrix24": ("w2", "query_limit_exceeded_after_10s")}, None),
    ("W2 finished", None, {"fast_bitrix24": ("w2", "finished")}, None),
    ("W3 latency p50, ms", ("w3", "p50_ms"), {"pgqueuer": ("w3", "p50_ms"), "procrastinate": ("w3", "p50_ms")}, "less"),
    ("W3 latency p99, ms", ("w3", "p99_ms"), {"pgqueuer": ("w3", "p99_ms"), "procrastinate": ("w3", "p99_ms")}, "less"),
    ("W3 latency max, ms", ("w3", "max_ms"), {"pgqueuer": ("w3", "max_ms"), "procrastinate": ("w3", "max_ms")}, "less"),
    ("W4 bulk API, intents/s (best run)", ("w4", "bulk_api_per_second"), {}, None),
    ("W4 SQL function, intents/s", ("w4", "sql_function_per_second"), {}, None),
    ("W5 growth, intents/s", ("w5", "intents_per_second"), {}, None),
    ("W5 relative to W1", ("w5", "relative_to_w1"), {}, None),
    ("Worker peak RSS, MiB", ("rss", "peak_rss_mib"), {}, None),
]


def comparison_rows(ours: dict, peers: dict) -> list:
    header = ["Workload", "b24outbox"]
    for _, title in PEERS:
        header += [title, "ratio"]
    rows = [header]
    for label, our_path, peer_paths, better in ROWS:
        mine = get(ours, *our_path) if our_path else None
        row = [label, number(mine, 2 if better == "less" else 1)]
        for key, _ in PEERS:
            path = peer_paths.get(key)
            theirs = get(peers.get(key), *path) if path else None
            row.append(number(theirs, 2 if better == "less" else 1) if path else "")
            if better == "more":
                row.append(ratio(mine, theirs) if path else "")
            elif better == "less":
                row.append(ratio(theirs, mine) if path else "")
            else:
                row.append("")
        rows.append(row)
    return rows


def target_rows(ours: dict, peers: dict) -> list:
    w1 = get(ours, "w1", "intents_per_second")
    best_peer = max((v for v in (get(peers.get(k), "w1", "jobs_per_second") for k in ("pgqueuer", "procrastinate"))
                     if v is not None), default=None)
    w2_delivered, w2_sent = get(ours, "w2", "delivered"), get(ours, "w2", "intents") or 6000
    relative = get(ours, "w5", "relative_to_w1")

    def check(label, value, shown, passes):
        return [label, shown if value is not None else "—", "—" if value is None else ("pass" if passes(value) else "MISS")]

    return [
        ["Target", "measured", "result"],
        check("W1 ≥ 13,000 intents/s", w1, number(w1), lambda v: v >= 13_000),
        check("W1 ≥ 5× the best peer's W1", None if w1 is None or not best_peer else w1 / best_peer,
              ratio(w1, best_peer), lambda v: v >= 5),
        check("W2 ≥ 95/s steady", get(ours, "w2", "steady_per_second"),
              number(get(ours, "w2", "steady_per_second")), lambda v: v >= 95),
        check("W2 zero QUERY_LIMIT_EXCEEDED after the first 10 s", get(ours, "w2", "query_limit_exceeded_after_10s"),
              number(get(ours, "w2", "query_limit_exceeded_after_10s")), lambda v: v == 0),
        check("W2 all 6,000 delivered", w2_delivered, f"{number(w2_delivered)} of {number(w2_sent)}",
              lambda v: v >= 6000 and v >= w2_sent),
        check("W3 p50 ≤ 5 ms", get(ours, "w3", "p50_ms"), number(get(ours, "w3", "p50_ms"), 2), lambda v: v <= 5),
        check("W3 p99 ≤ 10 ms", get(ours, "w3", "p99_ms"), number(get(ours, "w3", "p99_ms"), 2), lambda v: v <= 10),
        check("W4 bulk API ≥ 80,000 intents/s", get(ours, "w4", "bulk_api_per_second"),
              number(get(ours, "w4", "bulk_api_per_second")), lambda v: v >= 80_000),
        check("W5 within 10% of W1", relative, number(relative, 3), lambda v: v >= 0.9),
        check("Worker RSS ≤ 64 MiB", get(ours, "rss", "peak_rss_mib"),
              number(get(ours, "rss", "peak_rss_mib")), lambda v: v <= 64),
    ]


def render(rows: list, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def describe(name: str, data: dict) -> str:
    machine = data.get("machine") if isinstance(data.get("machine"), dict) else {}
    parts = [str(machine.get(k)) for k in ("cpus", "model", "postgres") if machine.get(k) is not None]
    if machine.get("cpus") is not None:
        parts[0] += " CPUs"
    return f"{name}: {data.get('date', '—')}" + (f" on {', '.join(parts)}" if parts else "")


def load(path: str) -> dict:
    try:
        with open(path) as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        sys.exit(f"compare.py: cannot read {path}: {error}")
    return data if isinstance(data, dict) else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ours", help="JSON from `b24outbox bench --json FILE`")
    parser.add_argument("peers", help="JSON from bench/peers/run.sh")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    ours, peers = load(args.ours), load(args.peers)

    print(describe("b24outbox", ours))
    print(describe("peers", peers))
    versions = [f"{title} {peers[key].get('version')}" for key, title in PEERS
                if isinstance(peers.get(key), dict) and peers[key].get("version")]
    if versions:
        print("peer versions: " + ", ".join(versions))
    for key, title in PEERS:
        if isinstance(peers.get(key), dict) and peers[key].get("error"):
            print(f"{title} failed: {peers[key]['error']}")
    baseline = get(peers, "baseline", "w1_http_only", "calls_per_second")
    if baseline is not None:
        print(f"the same HTTP calls from Python with no queue: {number(baseline)}/s (about the ceiling of a one-process Python worker here)")
    w2_error = peers.get("fast_bitrix24", {}).get("w2", {}).get("error") if isinstance(peers.get("fast_bitrix24"), dict) else None
    if w2_error:
        print(f"fast_bitrix24 W2 stopped with: {w2_error}")
    print()
    print(render(comparison_rows(ours, peers), args.markdown))
    print("\nratio: ours/peer for throughput, peer/ours for latency (above 1× = b24outbox ahead)\n")
    print(render(target_rows(ours, peers), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
