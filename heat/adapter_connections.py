"""openstacksdk connections per cloud and region, sharing one Keystone token per cloud.

Regions and credentials come only from the clouds.yaml named by OPENSTACK_CLOUDS_YAML
(no OS_* variables, no ~/.config lookups), so nothing stray leaks into a server.

The token: keystoneauth keeps its token in the auth plugin, i.e. per process. Every web
and worker process would then authenticate on its own, and again after a 401. Here the
plugin's auth state (`get_auth_state`'s JSON) lives in the Django cache (Redis), keyed by
the plugin's cache id, so every process reuses one token until it nears expiry;
re-authenticating happens under a cache lock, so only one process does it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import yaml
from django.conf import settings
from django.core.cache import cache
from keystoneauth1 import access
from keystoneauth1 import session as ks_session
from keystoneauth1.identity.base import BaseIdentityPlugin
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

from heat.adapter_types import RegionRef
from heat.exceptions import CloudCredentialsError

logger = logging.getLogger(__name__)

TOKEN_KEY = "openstack:token:{}"  # noqa: S105 - a cache key, not a secret
LOCK_SECONDS = 30  # longer than any authentication takes; a dead holder frees it by then
LOCK_WAIT_SECONDS = 10


class SharedTokenMixin(BaseIdentityPlugin):
    """Mixed into the loaded keystoneauth plugin's class: tokens come from the cache first."""

    _invalidated_token: str | None = None

    def _shared_key(self) -> str:
        return TOKEN_KEY.format(self.get_cache_id())

    def _shared_auth_ref(self) -> access.AccessInfo | None:
        try:
            state = cache.get(self._shared_key())
        except redis.RedisError:
            return None  # Redis down: authenticate in this process, as keystoneauth would
        if not state:
            return None
        data = json.loads(state)
        # The token this process just saw refused (401) is no use, even if still cached.
        if data["auth_token"] == self._invalidated_token:
            return None
        auth_ref = access.create(body=data["body"], auth_token=data["auth_token"])
        if auth_ref.will_expire_soon(self.MIN_TOKEN_LIFE_SECONDS):
            return None
        return auth_ref

    def _share(self, auth_ref: access.AccessInfo) -> None:
        expires = auth_ref.expires
        if expires is None:
            return
        lifetime = int(expires.timestamp() - time.time()) - self.MIN_TOKEN_LIFE_SECONDS
        if lifetime <= 0:
            return
        state = json.dumps({"auth_token": auth_ref.auth_token, "body": auth_ref._data})
        try:
            cache.set(self._shared_key(), state, timeout=lifetime)
        except redis.RedisError:
            logger.warning("heat.token_not_shared", extra={"reason": "cache unavailable"})

    def get_auth_ref(self, session: ks_session.Session) -> access.AccessInfo:
        shared = self._shared_auth_ref()
        if shared is not None:
            return shared
        lock_key = self._shared_key() + ":lock"
        owner = uuid.uuid4().hex
        try:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while not cache.add(lock_key, owner, timeout=LOCK_SECONDS):
                # Another process is authenticating: its token will appear in the cache.
                time.sleep(0.05)
                shared = self._shared_auth_ref()
                if shared is not None:
                    return shared
                if time.monotonic() > deadline:
                    break
        except redis.RedisError:
            owner = ""
        try:
            shared = self._shared_auth_ref()
            if shared is not None:
                return shared
            # The concrete plugin class comes after this mixin in the MRO (see share_token).
            auth_ref = super().get_auth_ref(session)  # type: ignore[safe-super]
            logger.info("heat.authenticated", extra={"auth_url": self.auth_url})
            self._share(auth_ref)
            return auth_ref
        finally:
            if owner:
                try:
                    if cache.get(lock_key) == owner:
                        cache.delete(lock_key)
                except redis.RedisError:
                    pass

    def invalidate(self) -> bool:
        if self.auth_ref is not None:
            self._invalidated_token = self.auth_ref.auth_token
        return super().invalidate()


@functools.cache
def _shared_class(plugin_class: type[BaseIdentityPlugin]) -> type[BaseIdentityPlugin]:
    return type(f"Shared{plugin_class.__name__}", (SharedTokenMixin, plugin_class), {})


def share_token(plugin: Any) -> None:
    """Make a loaded plugin share its token through the cache (any identity plugin type).

    openstacksdk loads the plugin class that clouds.yaml's auth_type names, so the sharing
    behaviour is mixed into that class rather than wrapped around the instance.
    """
    if isinstance(plugin, BaseIdentityPlugin) and not isinstance(plugin, SharedTokenMixin):
        plugin.__class__ = _shared_class(type(plugin))


def clouds_yaml_path() -> Path:
    path: str = settings.OPENSTACK_CLOUDS_YAML
    if not path:
        raise CloudCredentialsError(
            "OpenStack is not configured: set OPENSTACK_CLOUDS_YAML to a clouds.yaml."
        )
    return Path(path)


def configured_regions() -> tuple[RegionRef, ...]:
    """Every (cloud, region) the clouds.yaml names; empty when none is configured."""
    if not settings.OPENSTACK_CLOUDS_YAML:
        return ()
    document = yaml.safe_load(clouds_yaml_path().read_text()) or {}
    regions: list[RegionRef] = []
    for cloud, config in (document.get("clouds") or {}).items():
        names = config.get("regions") or [config.get("region_name") or "RegionOne"]
        for entry in names:
            name = entry["name"] if isinstance(entry, dict) else str(entry)
            regions.append(RegionRef(cloud=str(cloud), region=name))
    return tuple(regions)


_connections: dict[tuple[Any, ...], Connection] = {}
_connections_lock = threading.Lock()


def connect(region: RegionRef, *, timeout: float | None = None) -> Connection:
    """A new connection to one region; its token is shared through the cache."""
    path = clouds_yaml_path()
    if not path.exists():
        raise CloudCredentialsError(f"OPENSTACK_CLOUDS_YAML names {path}, which does not exist.")
    config = OpenStackConfig(
        config_files=[str(path)], vendor_files=[], secure_files=[], load_envvars=False
    )
    cloud_region = config.get_one(
        cloud=region.cloud,
        region_name=region.region,
        api_timeout=timeout if timeout is not None else settings.OPENSTACK_API_TIMEOUT,
    )
    share_token(cloud_region.get_auth())
    return Connection(config=cloud_region)


def connection_for(region: RegionRef, *, timeout: float | None = None) -> Connection:
    """This process's connection to a region, made once (and again after a fork)."""
    timeout = timeout if timeout is not None else float(settings.OPENSTACK_API_TIMEOUT)
    path = clouds_yaml_path()
    # A rewritten clouds.yaml (new credentials, a restarted devcloud) means new connections.
    version = path.stat().st_mtime_ns if path.exists() else 0
    key = (os.getpid(), str(path), version, region, timeout)
    with _connections_lock:
        connection = _connections.get(key)
        if connection is None:
            connection = _connections[key] = connect(region, timeout=timeout)
        return connection
