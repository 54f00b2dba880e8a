"""One Keystone token per cloud, shared by every process through Redis."""

import json

from django.core.cache import cache

from heat.adapter_connections import connect


def heat_read(connection) -> None:
    list(connection.orchestration.stacks(limit=1))


def test_two_independent_connections_authenticate_once_between_them(cloud, devcloud):
    before = devcloud.token_requests()
    first, second = connect(cloud), connect(cloud)

    heat_read(first)
    heat_read(second)

    assert devcloud.token_requests() == before + 1
    assert first.session.auth.get_token(first.session) == second.session.auth.get_token(
        second.session
    )


def test_regions_of_one_cloud_share_its_token(cloud, devcloud):
    from heat.adapter import RegionRef

    before = devcloud.token_requests()

    heat_read(connect(cloud))
    heat_read(connect(RegionRef(cloud="devcloud", region="RegionTwo")))

    assert devcloud.token_requests() == before + 1


def test_after_a_revocation_the_connections_reauthenticate_once_between_them(cloud, devcloud):
    first, second = connect(cloud), connect(cloud)
    heat_read(first)
    heat_read(second)
    devcloud.control("POST", "tokens/revoke")
    before = devcloud.token_requests()

    heat_read(first)  # 401, re-authenticates, shares the new token
    heat_read(second)  # 401, finds the new token in the cache

    assert devcloud.token_requests() == before + 1


def test_the_shared_token_expires_from_the_cache_before_keystone_expires_it(cloud, devcloud):
    connection = connect(cloud)
    heat_read(connection)

    key = f"openstack:token:{connection.session.auth.get_cache_id()}"
    state = json.loads(cache.get(key))
    ttl = cache._cache.get_client().ttl(cache.make_and_validate_key(key))

    assert state["auth_token"] == connection.session.auth.get_token(connection.session)
    assert 3600 - 120 - 5 <= ttl <= 3600 - 120


def test_a_token_within_keystoneauths_renewal_window_is_not_shared(cloud, devcloud):
    devcloud.control("POST", "token-lifetime", {"seconds": 100})
    connection = connect(cloud)

    heat_read(connection)

    assert cache.get(f"openstack:token:{connection.session.auth.get_cache_id()}") is None
