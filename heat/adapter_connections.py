"""openstacksdk connections per cloud and region, sharing one Keystone token per cloud.

Regions and credentials come only from the clouds.yaml named by OPENSTACK_CLOUDS_YAML
(no OS_* variables, no ~/.config lookups), so nothing stray leaks into a server.

The token: keystoneauth keeps its token in the auth plugin, i.e. per process. Every web
and worker process would then authenticate on its own, and again after a 401. Here the
plugin's auth state (`get_auth_state`'s JSON) lives in the Django cache (Redis), keyed by
the plugin's cache id, so every process reuses one token until it nears expiry;
re-authenticating happens under a cache lock, so only one process does it.

A token the cloud refuses is dropped for every process at once: `invalidate` (keystoneauth
calls it on a 401; the adapter calls it through `token_drop` when Heat's engine refuses a
create with a 500, heat-observed.md "Tokens") removes the shared copy, and every process
compares its own token with the shared one before each request (one small cache read), so
the next request anywhere authenticates again instead of presenting the refused token.
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
CURRENT_SUFFIX = ":current"  # the shared token alone, cheap to compare before each request
LOCK_SECONDS = 30  # longer than any authentication takes; a dead holder frees it by then
LOCK_WAIT_SECONDS = 10


class SharedTokenMixin(BaseIdentityPlugin):
    """Mixed into the loaded keystoneauth plugin's class: tokens come from the cache first."""

    _invalidated_token: str | None = None
    _shared_token: str | None = None  # this process's token, when the cache holds it too

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
        self._shared_token = auth_ref.auth_token
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
            cache.set_many(
                {
                    self._shared_key(): state,
                    self._shared_key() + CURRENT_SUFFIX: auth_ref.auth_token,
                },
                timeout=lifetime,
            )
            self._shared_token = auth_ref.auth_token
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

    def _needs_reauthenticate(self) -> bool:
        if super()._needs_reauthenticate():
            return True
        if self.auth_ref is None or self.auth_ref.auth_token != self._shared_token:
            return False  # a token only this process has (the cache was down): nothing to compare
        try:
            shared = cache.get(self._shared_key() + CURRENT_SUFFIX)
        except redis.RedisError:
            return False  # keep this process's token; nothing to compare with
        # Dropped (refused somewhere) or replaced by a newer one: take the shared state again.
        return bool(shared != self.auth_ref.auth_token)

    def invalidate(self) -> bool:
        if self.auth_ref is not None:
            self._invalidated_token = self.auth_ref.auth_token
            if self.auth_ref.auth_token:
                self._unshare(self.auth_ref.auth_token)
        return super().invalidate()

    def _unshare(self, token: str) -> None:
        """Remove the shared token if it is still the refused one (not a newer one)."""
        current = self._shared_key() + CURRENT_SUFFIX
        try:
            if cache.get(current) == token:
                cache.delete_many([self._shared_key(), current])
                logger.warning("heat.token_dropped", extra={"auth_url": self.auth_url})
        except redis.RedisError:
            pass


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


def token_drop(connection: Connection) -> None:
    """Forget the connection's token in this process and for every other one."""
    plugin = connection.session.auth
    if isinstance(plugin, BaseIdentityPlugin):
        plugin.invalidate()


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
