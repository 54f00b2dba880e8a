"""devcloud's state: clock, tokens, stacks, faults; kept in one JSON file.

Everything lives in one dict guarded by one lock, written to disk after every change, so
a restarted devcloud still has its stacks and its tokens (as a real cloud would).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ID = "8f1f0c6ab2a54d1c9f6c1de0c0a1b2c3"
PROJECT_NAME = "portal"
USER_ID = "3e1c1f1f6f3b4d2c8a1b2c3d4e5f6a7b"
USER_NAME = "portal-svc"
PASSWORD = "devcloud-password"  # noqa: S105 - a fixed development credential, by design
DOMAIN = {"id": "default", "name": "Default"}
APP_CREDENTIAL_ID = "a1b2c3d4e5f64718293a4b5c6d7e8f90"
APP_CREDENTIAL_SECRET = "devcloud-app-credential-secret"  # noqa: S105 - development only
DEFAULT_REGIONS = ("RegionOne", "RegionTwo")
SAVE_DELAY = 0.5  # seconds between state writes; a stopping devcloud writes at once

DEFAULT_FAULTS: dict[str, Any] = {
    # Current Keystone refuses trusts to application credentials (CVE-2026-43000).
    "appcred_trusts_forbidden": True,
    "stack_quota": 512,  # Heat's max_stacks_per_tenant default
    "fail_resource": None,  # {"name": "server", "reason": "no_valid_host" | "quota" | text}
    "delete_failures": 0,  # the next N delete traversals (or updates removing resources) fail
    "http": [],  # [{"method", "path", "status", "count", "region"}]
    "delay": None,  # {"seconds", "method", "path"}: slow responses
    "ambiguous_create": 0,  # the next N creates make the stack, then answer 500
    "engine_stall": None,  # {"seconds"}: Heat answers 500 after a wait; stacks freeze
    "known": {},  # {"nova.flavor": [...], ...}: every region's names, unless it has a catalog
    # Heat retries a resource that went to ERROR this many times (its action_retry_limit,
    # 5 in Heat) before CREATE_FAILED; each retry takes timing["retry"] seconds.
    "action_retry_limit": 0,
    "list_hidden": [],  # names or ids of stacks that GET /stacks leaves out (Heat's filters)
    # The next N stack listings with a marker answer the first page again, as Heat does
    # when the marker's stack was purged between two pages.
    "list_marker_lost": 0,
    # heat-api caches a validated token this long (keystonemiddleware token_cache_time, 300
    # in Heat): a revoked token it has seen still reads, but POST /stacks answers 500.
    "token_cache_seconds": 0,
    "name_hold_seconds": 1.0,  # a deleted stack's name answers 409 this long (Heat: ~0.8 s)
}
DEFAULT_TIMING: dict[str, float] = {
    "create": 2.0,  # seconds per resource
    "delete": 1.0,
    "action": 1.0,  # suspend, resume
    "retry": 15.0,  # one retry of a resource that went to ERROR (see action_retry_limit)
}


@dataclass
class Options:
    regions: tuple[str, ...] = DEFAULT_REGIONS
    token_lifetime: int = 3600
    frozen_clock: bool = False
    timing: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMING))
    # Per region, the names custom constraints accept: {"RegionOne": {"nova.flavor": [...],
    # "glance.image": [...], "neutron.network": [...]}} (see `catalog_load`).
    catalog: dict[str, dict[str, list[str]]] = field(default_factory=dict)


class Store:
    def __init__(self, path: Path | None, options: Options) -> None:
        self.path = path
        self.options = options
        self.lock = threading.RLock()
        self.requests: deque[dict[str, Any]] = deque(maxlen=1000)
        self.token_requests = 0
        # Every request answered since the start or the last reset, by service; unlike the
        # log above, never truncated, so a benchmark can count thousands of calls.
        self.request_counts: dict[str, int] = {}
        self._save_timer: threading.Timer | None = None
        self.data = self._load() or self._fresh()

    def _fresh(self) -> dict[str, Any]:
        return {
            "clock": {"base": time.time(), "offset": 0.0},
            "counters": {"event": 0, "private_ip": 10, "floating_ip": 10},
            "tokens": {},
            "stacks": {},
            "faults": copy.deepcopy(DEFAULT_FAULTS),
            "timing": dict(self.options.timing),
            "token_lifetime": self.options.token_lifetime,
            "catalog": copy.deepcopy(self.options.catalog),
        }

    def _load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def save(self) -> None:
        """Write the state soon: at most once per SAVE_DELAY, and always on shutdown (flush).

        Writing thousands of stacks on every request made a request cost tens of ms.
        """
        if self.path is None:
            return
        with self.lock:
            if self._save_timer is None:
                self._save_timer = threading.Timer(SAVE_DELAY, self.flush)
                self._save_timer.daemon = True
                self._save_timer.start()

    def flush(self) -> None:
        if self.path is None:
            return
        with self.lock:
            if self._save_timer is not None:
                self._save_timer.cancel()
                self._save_timer = None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text(json.dumps(self.data))
            os.replace(scratch, self.path)

    def reset(self) -> None:
        with self.lock:
            self.data = self._fresh()
            self.requests.clear()
            self.request_counts.clear()
            self.token_requests = 0
            self.save()

    # --- clock ------------------------------------------------------------------------

    def now(self) -> float:
        clock = self.data["clock"]
        base = clock["base"] if self.options.frozen_clock else time.time()
        return float(base + clock["offset"])

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.data["clock"]["offset"] += seconds
            return self.now()

    # --- counters and address pools ----------------------------------------------------

    def next_event_number(self) -> int:
        self.data["counters"]["event"] += 1
        return int(self.data["counters"]["event"])

    def next_address(self, pool: str) -> str:
        counters = self.data["counters"]
        counters[pool] += 1
        number = int(counters[pool])
        prefix = "10.0" if pool == "private_ip" else "203.0"
        if pool == "floating_ip":
            return f"{prefix}.{113 + number // 250}.{number % 250 + 2}"
        return f"{prefix}.{number // 250}.{number % 250 + 2}"

    # --- the region's catalog -----------------------------------------------------------

    def known_names(self, region: str) -> dict[str, list[str]]:
        """The names custom constraints accept in `region`; an empty dict accepts any."""
        catalog: dict[str, dict[str, list[str]]] = self.data.get("catalog") or {}
        if region in catalog:
            return catalog[region]
        known: dict[str, list[str]] = self.faults.get("known") or {}
        return known

    # --- faults -----------------------------------------------------------------------

    @property
    def faults(self) -> dict[str, Any]:
        faults: dict[str, Any] = self.data["faults"]
        return faults

    def take_http_fault(self, method: str, path: str, region: str | None) -> dict[str, Any] | None:
        """The first armed HTTP fault matching this request, consumed once."""
        with self.lock:
            for rule in self.faults["http"]:
                if rule.get("method", "*") not in ("*", method):
                    continue
                if rule.get("path", "") not in path:
                    continue
                if rule.get("region") not in (None, region):
                    continue
                rule["count"] = int(rule.get("count", 1)) - 1
                if rule["count"] <= 0:
                    self.faults["http"].remove(rule)
                self.save()
                return rule
            return None

    def delay_for(self, method: str, path: str) -> float:
        delay = self.faults.get("delay")
        if not delay or delay.get("method", "*") not in ("*", method):
            return 0.0
        if delay.get("path", "") not in path:
            return 0.0
        return float(delay.get("seconds", 0))

    def log_request(self, entry: dict[str, Any]) -> None:
        service = entry["path"].lstrip("/").split("/", 1)[0] or "root"
        service = {"v3": "keystone"}.get(service, service)
        with self.lock:
            self.requests.append(entry)
            self.request_counts[service] = self.request_counts.get(service, 0) + 1


CATALOG_KINDS = {"flavors": "nova.flavor", "images": "glance.image", "networks": "neutron.network"}


def catalog_load(document: Any) -> dict[str, dict[str, list[str]]]:
    """A region catalog from its file form:

        regions:
          RegionOne: {flavors: [g1.h100x1], images: [ubuntu-24.04], networks: [private, public]}

    into the constraint names Heat checks ("nova.flavor", "glance.image", "neutron.network").
    """
    regions = (document or {}).get("regions") if isinstance(document, dict) else None
    if not isinstance(regions, dict):
        raise ValueError("A catalog is a mapping with `regions: {<region>: {flavors: [...]}}`.")
    catalog: dict[str, dict[str, list[str]]] = {}
    for region, kinds in regions.items():
        if not isinstance(kinds, dict) or set(kinds) - set(CATALOG_KINDS):
            raise ValueError(f"Region {region}: only {sorted(CATALOG_KINDS)} are known.")
        catalog[str(region)] = {
            CATALOG_KINDS[kind]: [str(name) for name in names or []]
            for kind, names in kinds.items()
        }
    return catalog
