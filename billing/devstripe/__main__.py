"""Start devstripe: `python -m billing.devstripe --port 12111 --webhook-url URL --webhook-secret S`.

A development tool only: it refuses to start unless DJANGO_DEBUG is on.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from billing.devstripe.server import DevstripeServer
from billing.devstripe.store import Store

TRUTHY = {"1", "true", "yes", "on", "y", "t"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m billing.devstripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", help="where to post events; none: keep them queued")
    parser.add_argument("--webhook-secret", default="whsec_devstripe")
    arguments = parser.parse_args(argv)
    if os.environ.get("DJANGO_DEBUG", "").lower() not in TRUTHY:
        sys.exit("devstripe is a development simulator: it starts only with DJANGO_DEBUG=true.")
    logging.basicConfig(level=logging.INFO, format="devstripe %(levelname)s %(message)s")
    store = Store(webhook_url=arguments.webhook_url, webhook_secret=arguments.webhook_secret)
    server = DevstripeServer((arguments.host, arguments.port), store)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"devstripe listening on http://{arguments.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
