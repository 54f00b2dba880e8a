"""Start devcloud: `python -m heat.devcloud --port 8774 --state var/devcloud.json`.

A development tool only: it refuses to start unless DJANGO_DEBUG is on.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import yaml

from heat.devcloud.server import DevcloudServer
from heat.devcloud.store import DEFAULT_REGIONS, DEFAULT_TIMING, Options, Store, catalog_load

TRUTHY = {"1", "true", "yes", "on", "y", "t"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m heat.devcloud", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8774)
    parser.add_argument("--state", type=Path, help="JSON file that keeps stacks across restarts")
    parser.add_argument("--regions", default=",".join(DEFAULT_REGIONS))
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds (> 120)")
    parser.add_argument(
        "--frozen-clock",
        action="store_true",
        help="time moves only when POST /_devcloud/clock advances it",
    )
    for action, seconds in DEFAULT_TIMING.items():
        parser.add_argument(
            f"--{action}-seconds",
            type=float,
            default=seconds,
            help=f"seconds each resource spends in {action}",
        )
    parser.add_argument(
        "--catalog",
        type=Path,
        help="YAML or JSON file: per region, the flavors, images and networks that exist "
        "(custom constraints are checked against them; see store.catalog_load)",
    )
    arguments = parser.parse_args(argv)
    if os.environ.get("DJANGO_DEBUG", "").lower() not in TRUTHY:
        sys.exit("devcloud is a development simulator: it starts only with DJANGO_DEBUG=true.")
    if arguments.token_lifetime <= 120:
        sys.exit("--token-lifetime must exceed 120 s: keystoneauth renews tokens that close.")
    logging.basicConfig(level=logging.INFO, format="devcloud %(levelname)s %(message)s")
    options = Options(
        regions=tuple(filter(None, arguments.regions.split(","))),
        token_lifetime=arguments.token_lifetime,
        frozen_clock=arguments.frozen_clock,
        timing={action: getattr(arguments, f"{action}_seconds") for action in DEFAULT_TIMING},
    )
    if arguments.catalog is not None:
        try:
            options.catalog = catalog_load(yaml.safe_load(arguments.catalog.read_text()))
        except (OSError, ValueError, yaml.YAMLError) as error:
            sys.exit(f"--catalog {arguments.catalog}: {error}")
    store = Store(arguments.state, options)
    if arguments.catalog is not None:
        store.data["catalog"] = dict(options.catalog)  # the file wins over a saved state
    server = DevcloudServer((arguments.host, arguments.port), store)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"devcloud listening on http://{arguments.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        store.flush()


if __name__ == "__main__":
    main()
