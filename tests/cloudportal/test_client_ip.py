"""The client address: the socket's, or X-Forwarded-For read for exactly the trusted hops."""

import pytest

from cloudportal.client_ip import client_ip_from_scope, client_ip_resolve


@pytest.mark.parametrize(
    ("hops", "remote", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "203.0.113.5", "198.51.100.1"),  # no proxies: header ignored
        (1, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", "203.0.113.5, 198.51.100.1", "198.51.100.1"),  # left part is the client's
        (2, "10.0.0.3", "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "10.0.0.3", "203.0.113.5", "10.0.0.3"),  # fewer hops than configured
        (1, "10.0.0.2", "not-an-ip", "10.0.0.2"),
        (1, "10.0.0.2", "2001:db8::1", "2001:db8::1"),
        (1, "10.0.0.2", None, "10.0.0.2"),
    ],
)
def test_client_ip_reads_exactly_the_trusted_hops(settings, hops, remote, forwarded, expected):
    settings.TRUSTED_PROXY_HOPS = hops

    assert client_ip_resolve(remote_addr=remote, forwarded_for=forwarded) == expected


def test_a_websocket_scope_is_read_the_same_way(settings):
    settings.TRUSTED_PROXY_HOPS = 1
    scope = {
        "client": ["10.0.0.2", 5555],
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.5")],
    }

    assert client_ip_from_scope(scope) == "203.0.113.5"
    settings.TRUSTED_PROXY_HOPS = 0
    assert client_ip_from_scope(scope) == "10.0.0.2"


def test_uvicorn_is_told_not_to_rewrite_the_client_address():
    from pathlib import Path

    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert "--no-proxy-headers" in web
