"""Keystone v3, the part openstacksdk uses: version discovery and tokens with a catalog."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from heat.devcloud import store as seed
from heat.devcloud.store import Store


def isotime(at: float, *, micro: bool = False) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def version(base_url: str) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url}/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def catalog(base_url: str, regions: tuple[str, ...]) -> list[dict[str, Any]]:
    def endpoints(url_for: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": uuid.uuid4().hex,
                "interface": interface,
                "region": region,
                "region_id": region,
                "url": url_for(region),
            }
            for region in regions
            for interface in ("public", "internal", "admin")
        ]

    return [
        {
            "type": "orchestration",
            "name": "heat",
            "id": "a5f7070bda40443fa3819fbdf1689af1",
            # Versioned and project-scoped, as Keystone's %(tenant_id)s template renders it.
            "endpoints": endpoints(lambda region: f"{base_url}/heat/{region}/v1/{seed.PROJECT_ID}"),
        },
        {
            "type": "identity",
            "name": "keystone",
            "id": "050726f278654128aba89757ae25910c",
            "endpoints": endpoints(lambda region: f"{base_url}/v3"),
        },
    ]


def _password_user(identity: dict[str, Any]) -> bool:
    user = (identity.get("password") or {}).get("user") or {}
    if user.get("password") != seed.PASSWORD:
        return False
    if "id" in user:
        return bool(user["id"] == seed.USER_ID)
    domain = user.get("domain") or {}
    return bool(
        user.get("name") == seed.USER_NAME
        and (domain.get("id") == seed.DOMAIN["id"] or domain.get("name") == seed.DOMAIN["name"])
    )


def _application_credential(identity: dict[str, Any]) -> bool:
    credential = identity.get("application_credential") or {}
    if credential.get("secret") != seed.APP_CREDENTIAL_SECRET:
        return False
    return bool(
        credential.get("id") == seed.APP_CREDENTIAL_ID or credential.get("name") == "portal"
    )


def _scope_ok(scope: dict[str, Any] | None) -> bool:
    project = (scope or {}).get("project")
    if not project:
        return True  # unscoped here means the user's default project
    if "id" in project:
        return bool(project["id"] == seed.PROJECT_ID)
    return bool(project.get("name") == seed.PROJECT_NAME)


def issue_token(store: Store, body: Any, base_url: str) -> tuple[str, dict[str, Any]] | None:
    """A new token and its body, or None when the credentials are refused (401)."""
    auth = (body or {}).get("auth") or {}
    identity = auth.get("identity") or {}
    methods = identity.get("methods") or []
    if methods == ["password"] and _password_user(identity) and _scope_ok(auth.get("scope")):
        method = "password"
    elif methods == ["application_credential"] and _application_credential(identity):
        method = "application_credential"
    else:
        return None
    with store.lock:
        store.token_requests += 1
        issued = store.now()
        expires = issued + int(store.data["token_lifetime"])
        token = "gAAAAA" + secrets.token_urlsafe(48)
        store.data["tokens"][token] = {
            "method": method,
            "expires_at": expires,
            "revoked": False,
        }
        store.save()
    project = {"domain": seed.DOMAIN, "id": seed.PROJECT_ID, "name": seed.PROJECT_NAME}
    token_body: dict[str, Any] = {
        "methods": [method],
        "user": {
            "domain": seed.DOMAIN,
            "id": seed.USER_ID,
            "name": seed.USER_NAME,
            "password_expires_at": None,
        },
        "audit_ids": [secrets.token_urlsafe(16)],
        "expires_at": isotime(expires, micro=True),
        "issued_at": isotime(issued, micro=True),
        "project": project,
        "is_domain": False,
        "roles": [
            {"id": "51cc68287d524c759f47c811e6463340", "name": "member"},
            {"id": "6e9f5a1c2b3d4e5f6a7b8c9d0e1f2a3b", "name": "heat_stack_owner"},
        ],
        "catalog": catalog(base_url, store.options.regions),
    }
    if method == "application_credential":
        token_body["application_credential"] = {
            "id": seed.APP_CREDENTIAL_ID,
            "name": "portal",
            "restricted": True,
        }
    return token, {"token": token_body}


def token_info(store: Store, token: str | None) -> dict[str, Any] | None:
    """The token's record when it is valid now; None answers 401."""
    if not token:
        return None
    record: dict[str, Any] | None = store.data["tokens"].get(token)
    if record is None or record["revoked"] or record["expires_at"] <= store.now():
        return None
    return record


def heat_token_info(store: Store, token: str | None) -> dict[str, Any] | None:
    """The token as heat-api sees it: keystonemiddleware caches a validation for
    `token_cache_seconds`, so a token revoked after heat-api saw it still passes (its
    record then says `revoked`). None answers 401."""
    record = token_info(store, token)
    if record is not None:
        if record.get("heat_seen_at") is None:
            record["heat_seen_at"] = store.now()
            store.save()
        return record
    cached: dict[str, Any] | None = store.data["tokens"].get(token or "")
    cache_seconds = float(store.faults.get("token_cache_seconds") or 0)
    if (
        cached is None
        or not cached["revoked"]
        or cached.get("heat_seen_at") is None
        or cached["expires_at"] <= store.now()
        or store.now() - cached["heat_seen_at"] >= cache_seconds
    ):
        return None
    return cached


def revoke_all(store: Store) -> int:
    with store.lock:
        count = 0
        for record in store.data["tokens"].values():
            if not record["revoked"]:
                record["revoked"] = True
                count += 1
        store.save()
        return count
