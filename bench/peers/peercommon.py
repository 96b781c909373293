"""Helpers shared by the peer benchmarks (standard library, plus aiohttp where a job calls the portal).

Every peer job makes the call a user of a general job queue would make for one notification:
POST `{webhook}im.notify.personal.add` with a form body (USER_ID, MESSAGE, TAG) through one
reused aiohttp session, and checks that the portal answered with a notification id.
"""
import json
import math
import urllib.request

USERS = 1000  # the simulator's default active users are 1-1000


def notify_params(index: int, prefix: str) -> dict:
    """The parameters of notification number `index`; every one has its own TAG, so all stay visible."""
    return {
        "USER_ID": index % USERS + 1,
        "MESSAGE": f"{prefix} notification {index}",
        "TAG": f"{prefix}-{index}",
    }


class PortalError(Exception):
    """The portal did not answer a notification call with a notification id."""


async def call_notify(session, webhook: str, params: dict) -> int:
    """POST im.notify.personal.add through `session` (an aiohttp.ClientSession); return the new id."""
    async with session.post(f"{webhook}im.notify.personal.add", data=params) as response:
        body = await response.json(content_type=None)
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, int) or isinstance(result, bool):
        raise PortalError(f"HTTP {response.status}: {str(body)[:200]}")
    return result


def percentile(sorted_values: list, fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(samples_ms: list) -> dict:
    """The W3 shape: samples, p50_ms, p99_ms, max_ms (rounded to µs)."""
    values = sorted(samples_ms)
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 0.50), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "max_ms": round(values[-1], 3),
    }


def best_of(attempts: list) -> dict:
    """The fastest W1 attempt, with every attempt's jobs/s listed beside it."""
    best = dict(max(attempts, key=lambda attempt: attempt["jobs_per_second"]))
    best["runs_jobs_per_second"] = [attempt["jobs_per_second"] for attempt in attempts]
    return best


def simulator_state(base_url: str) -> dict:
    """GET /_sim/state of the simulator at `base_url` (http://HOST:PORT)."""
    with urllib.request.urlopen(f"{base_url}/_sim/state", timeout=30) as response:
        return json.load(response)


def simulator_reset(base_url: str) -> None:
    """POST /_sim/reset: forget notifications, counters and the bucket level."""
    request = urllib.request.Request(f"{base_url}/_sim/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def delivered(state: dict) -> int:
    """Notifications the portal created (each call with a new TAG creates one)."""
    return state["effects"]["notificationsCreated"]
