#!/usr/bin/env python3
"""Sends notifications through the third-party client fast_bitrix24, to prove the
simulator speaks the real wire format.

Usage: fast_bitrix24_send.py WEBHOOK_URL [COUNT]

WEBHOOK_URL is an incoming webhook such as http://127.0.0.1:8931/rest/1/CODE/ (fast_bitrix24
takes plain http URLs as they are). COUNT (default 120) im.notify.personal.add calls go
through `Bitrix.call()` with a list, which packs them into `batch` requests of 50 commands.
Each call has its own TAG, so every one stays visible. Prints one JSON line and exits 0 when
every call returned a notification id.

Setup: python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-fast-bitrix24.txt
"""
import json
import sys

from fast_bitrix24 import Bitrix


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    webhook = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 120

    items = [
        {
            "USER_ID": i % 10 + 1,
            "MESSAGE": f"fast_bitrix24 notification {i}: ünïcode & symbols ?=[]",
            "TAG": f"fast-bitrix24-{i}",
        }
        for i in range(count)
    ]
    bitrix = Bitrix(webhook, verbose=False)
    results = bitrix.call("im.notify.personal.add", items)

    ids = [r for r in results if isinstance(r, int) and not isinstance(r, bool)]
    report = {"sent": count, "results": len(results), "ids": len(ids), "distinct_ids": len(set(ids))}
    print(json.dumps(report))
    return 0 if len(ids) == count and len(set(ids)) == count else 1


if __name__ == "__main__":
    sys.exit(main())
