"""Throttling per API key, on top of DRF's per-user and per-address limits."""

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Each key has its own budget, so one runaway script does not starve the others."""

    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read when used, not when DRF's settings were first loaded, so a change applies.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate is not None else None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key_id = getattr(request.auth, "public_id", None)
        if not isinstance(key_id, str) or not key_id.startswith("key_"):
            return None  # not a key request: not ours to throttle
        return self.cache_format % {"scope": self.scope, "ident": key_id}
