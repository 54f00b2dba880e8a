"""WebSocket fan-out: 1,000 sockets on ONE web process, time from commit to receipt.

    DJANGO_DEBUG=true .venv/bin/python bench/ws.py [--sockets 1000] [--commits 20]

Starts one uvicorn web process against a bench database (`cp_bench_ws`, created and
migrated) and Redis database 10, opens the sockets from this process (asyncio), then
commits deployment updates through the real service (`deployments.services`) and measures,
per received message, the time from the commit to its arrival on the socket. Two shapes:

- fan-out: every socket watches the same deployment (1 commit -> N messages);
- targeted: each socket belongs to its own customer and watches all of its deployments
  (1 commit -> 1 message), commits spread over the customers.

Prints p50 / p95 / max per shape. Target: p95 <= 250 ms.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cp_bench_ws"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.update({"DJANGO_DEBUG": "true", "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudportal.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_database() -> None:
    subprocess.run([sys.executable, str(ROOT / "bin" / "ensure-database")], check=True)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], check=True
    )


def setup_data(sockets: int):
    """Customers, sessions and deployments, written straight to the database (fast)."""
    from decimal import Decimal

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.cache import cache

    from accounts.models import Customer, User
    from catalog.models import Image, InstanceType, Region
    from catalog.services import catalog_seed_file_load
    from deployments.models import Deployment

    cache.clear()
    catalog_seed_file_load()
    Deployment.objects.all().delete()
    Customer.objects.all().delete()
    User.objects.all().delete()
    region = Region.objects.get(slug="eu-central-1")
    instance_type = InstanceType.objects.get(slug="h100-1x")
    image = Image.objects.get(slug="ubuntu-24.04-cuda-12.8")
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"bench{index}@example.com", password=unusable) for index in range(sockets)]
    )
    customers = Customer.objects.bulk_create([Customer(user=user) for user in users])
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(
                public_id=f"dep_BENCH{index:021d}",
                customer=customer,
                name=f"bench-{index}",
                region=region,
                instance_type=instance_type,
                image=image,
                hourly_price=Decimal("2.79"),
                compute_hourly_price=Decimal("2.79"),
                storage_hourly_price=Decimal("0"),
                stack_name=f"dep_BENCH{index:021d}",
                status="ACTIVE",
            )
            for index, customer in enumerate(customers)
        ]
    )
    session_keys = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        session_keys.append(session.session_key)
    return session_keys, deployments


async def open_socket(url: str, origin: str, session_key: str, subscribe: dict):
    import websockets

    connection = await websockets.connect(
        url,
        additional_headers={"Cookie": f"sessionid={session_key}", "Origin": origin},
        open_timeout=60,
        max_queue=None,
    )
    await connection.send(json.dumps(subscribe))
    reply = json.loads(await connection.recv())
    assert reply["type"] == "subscribed", reply
    return connection


async def listen(connection, arrivals: list[tuple[int, float]]) -> None:
    async for raw in connection:
        message = json.loads(raw)
        if message["type"] == "deployment.updated":
            arrivals.append((message["deployment"]["progress_marker"], time.perf_counter()))


def commit_update(deployment_id: int, marker: int) -> float:
    """One real service write; returns the moment the transaction committed."""
    from django.db import transaction

    from deployments import services

    with transaction.atomic():
        services.deployment_update(deployment_id=deployment_id, progress_total=marker)
        committed_at = time.perf_counter()  # on_commit publishing runs as the block exits
    return committed_at


async def measure(shape: str, connections, deployments, commits: int) -> list[float]:
    arrivals: list[tuple[int, float]] = []
    listeners = [asyncio.create_task(listen(connection, arrivals)) for connection in connections]
    committed: dict[int, float] = {}
    for marker in range(1, commits + 1):
        deployment = (
            deployments[0] if shape == "fan-out" else deployments[marker % len(deployments)]
        )
        committed[marker] = await asyncio.to_thread(commit_update, deployment.pk, marker)
        await asyncio.sleep(0.2 if shape == "fan-out" else 0.02)
    expected = commits * (len(connections) if shape == "fan-out" else 1)
    deadline = time.perf_counter() + 30
    while len(arrivals) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for listener in listeners:
        listener.cancel()
    if len(arrivals) < expected:
        print(f"  {shape}: only {len(arrivals)} of {expected} messages arrived")
    return [(arrived - committed[marker]) * 1000 for marker, arrived in arrivals]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(arguments) -> None:
    import django

    django.setup()
    # The payload is the REST detail; carry the commit's marker through a field we own.
    from deployments.api import serializers

    original = serializers.DeploymentOutput.to_representation

    def with_marker(self, instance):
        data = original(self, instance)
        data["progress_marker"] = instance.progress_total
        return data

    serializers.DeploymentOutput.to_representation = with_marker  # bench-only probe

    session_keys, deployments = await asyncio.to_thread(setup_data, arguments.sockets)
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cloudportal.asgi:application", "--port", str(port),
         "--lifespan", "off", "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        cwd=ROOT, env={**os.environ}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(ROOT / "var" / "bench-ws-web.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    try:
        origin = f"http://127.0.0.1:{port}"
        url = f"ws://127.0.0.1:{port}/ws/v1/"
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        results = {}
        for shape in ("fan-out", "targeted"):
            started = time.perf_counter()
            if shape == "fan-out":
                # One customer's deployment, watched by every socket: log them all in as its owner.
                await asyncio.to_thread(_share_owner, deployments, session_keys)
                subscriptions = [
                    {"type": "subscribe", "topic": "deployment", "id": deployments[0].public_id}
                ] * len(session_keys)
            else:
                await asyncio.to_thread(_own_sessions, session_keys)
                subscriptions = [{"type": "subscribe", "topic": "deployments"}] * len(session_keys)
            connections = []
            for batch in range(0, len(session_keys), 100):
                connections += await asyncio.gather(
                    *(
                        open_socket(url, origin, key, subscription)
                        for key, subscription in zip(
                            session_keys[batch : batch + 100],
                            subscriptions[batch : batch + 100],
                            strict=True,
                        )
                    )
                )
            opened = time.perf_counter() - started
            commits = arguments.commits if shape == "fan-out" else arguments.commits * 10
            latencies = await measure(shape, connections, deployments, commits)
            results[shape] = (opened, latencies)
            await asyncio.gather(*(connection.close() for connection in connections))
        print(f"\n{arguments.sockets} sockets on one web process (uvicorn, 1 worker)\n")
        print(
            f"{'shape':<10} {'messages':>9} {'open s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        )
        for shape, (opened, latencies) in results.items():
            median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
            print(
                f"{shape:<10} {len(latencies):>9} {opened:>7.1f} {median:>8.1f} "
                f"{p95:>8.1f} {max(latencies):>8.1f}"
            )
        print("\ntarget: p95 <= 250 ms")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()


def _share_owner(deployments, session_keys) -> None:
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    owner = deployments[0].customer.user
    for key in session_keys:
        session = SessionStore(session_key=key)
        session[SESSION_KEY] = str(owner.pk)
        session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
        session.save()


def _own_sessions(session_keys) -> None:
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    users = list(User.objects.order_by("pk"))
    for key, user in zip(session_keys, users, strict=True):
        session = SessionStore(session_key=key)
        session[SESSION_KEY] = str(user.pk)
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=20)
    arguments = parser.parse_args()
    prepare_database()
    asyncio.run(run(arguments))


if __name__ == "__main__":
    main()
