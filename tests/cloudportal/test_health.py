"""/healthz says the process answers; /readyz says whether its dependencies do."""

import pytest
from django.db import connection

from cloudportal.celery import app as celery_app


def test_healthz_answers_without_touching_dependencies(client, settings, unused_tcp_port):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_tcp_port}/0",
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_is_200_when_every_dependency_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
    }
    assert all(check["duration_ms"] >= 0 for check in body["checks"].values())


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_naming_the_database_when_it_is_down(client, monkeypatch, unused_tcp_port):
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", str(unused_tcp_port))

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"]["status"] == "fail"
    assert "OperationalError" in body["checks"]["database"]["error"]
    assert body["checks"]["redis"]["status"] == "ok"
    # The public page names the failure, not the database's host, port or user.
    assert str(unused_tcp_port) not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()
    connection.close()


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_it_is_down(client, settings, unused_tcp_port):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_tcp_port}/0",
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["redis"]
    assert "ConnectionError" in body["checks"]["redis"]["error"]


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_it_is_down(client, monkeypatch, unused_tcp_port):
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{unused_tcp_port}/0")

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"]["status"] == "ok"


def test_readyz_refuses_other_methods(client):
    response = client.post("/readyz")

    assert response.status_code == 405
