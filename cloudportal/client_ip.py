"""The client's IP address: the socket's, or read from X-Forwarded-For behind trusted proxies.

With `TRUSTED_PROXY_HOPS = n` the portal sits behind n proxies that each append the
address they received from to X-Forwarded-For; the client is then the n-th address from
the right. Anything left of it was written by the client and is ignored, so a spoofed
header changes nothing. With 0 (the default) the header is never read. The ASGI server
must not rewrite the socket address itself (uvicorn runs with --no-proxy-headers).
"""

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings


def client_ip_resolve(*, remote_addr: str | None, forwarded_for: str | None) -> str | None:
    hops: int = settings.TRUSTED_PROXY_HOPS
    remote = remote_addr or None
    if hops <= 0 or not forwarded_for:
        return remote
    addresses = [part.strip() for part in forwarded_for.split(",")]
    if len(addresses) < hops:
        return remote  # fewer hops than configured: not our proxies' header
    candidate = addresses[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def client_ip(request: Any) -> str | None:
    """For a Django or DRF request."""
    meta: Mapping[str, str] = request.META
    return client_ip_resolve(
        remote_addr=meta.get("REMOTE_ADDR"), forwarded_for=meta.get("HTTP_X_FORWARDED_FOR")
    )


def client_ip_from_scope(scope: Mapping[str, Any]) -> str | None:
    """For an ASGI (WebSocket) scope."""
    client = scope.get("client")
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
    ]
    return client_ip_resolve(
        remote_addr=client[0] if client else None,
        forwarded_for=",".join(forwarded) if forwarded else None,
    )
