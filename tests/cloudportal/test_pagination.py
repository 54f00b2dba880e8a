"""Lists page with an opaque cursor; clients choose a page size up to a maximum."""

import pytest

from tests.accounts.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.cloudportal.urls")]


def test_cursor_pages_walk_the_list_once_newest_first(client, django_assert_max_num_queries):
    emails = [UserFactory().email for _ in range(5)]

    with django_assert_max_num_queries(1):
        first = client.get("/api/v1/test/users?limit=2").json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    pages = [first, second, third]
    seen = [item["email"] for page in pages for item in page["results"]]
    assert seen == list(reversed(emails))
    assert first["previous"] is None
    assert third["next"] is None
    assert "cursor=" in first["next"]


def test_a_page_size_over_the_cap_is_refused(client):
    UserFactory.create_batch(3)

    response = client.get("/api/v1/test/users?limit=100000")

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "limit": ["Ensure this value is less than or equal to 200."]
    }
    assert len(client.get("/api/v1/test/users?limit=200").json()["results"]) == 3


def test_a_tampered_cursor_is_a_400_problem_naming_it(client):
    response = client.get("/api/v1/test/users?cursor=not-a-cursor")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {
        "cursor": ["Not a cursor of this list: follow a page's `next` or `previous` link."]
    }
