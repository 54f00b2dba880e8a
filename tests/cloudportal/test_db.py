"""rows_update: one UPDATE … FROM (VALUES …) writes what bulk_update would."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cloudportal.db import rows_update
from cloudportal.models import IdempotencyKey
from tests.accounts.factories import VerifiedUserFactory
from tests.sqlite import run_on_sqlite

pytestmark = pytest.mark.django_db


def test_rows_update_writes_each_rows_own_values_of_every_type(django_assert_num_queries):
    customer = VerifiedUserFactory().customer
    first, second, untouched = (
        IdempotencyKey.objects.create(customer=customer, key=key, request_fingerprint="f")
        for key in ("a", "b", "c")
    )
    first.response_status, first.response_body = 201, {"price": Decimal("2.79"), "ok": True}
    first.locked_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    second.response_status, second.response_body = None, None
    second.key = 'it\'s "quoted"; DROP TABLE x'
    second.locked_at = datetime(2027, 6, 7, tzinfo=UTC)
    untouched.key = "not written"

    with django_assert_num_queries(1):
        assert (
            rows_update([first, second], ["key", "response_status", "response_body", "locked_at"])
            == 2
        )

    first.refresh_from_db()
    second.refresh_from_db()
    untouched.refresh_from_db()
    assert (first.key, first.response_status, first.response_body) == (
        "a", 201, {"price": "2.79", "ok": True}
    )  # fmt: skip
    assert first.locked_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (second.key, second.response_status, second.response_body) == (
        "it's \"quoted\"; DROP TABLE x", None, None
    )  # fmt: skip
    assert second.locked_at == datetime(2027, 6, 7, tzinfo=UTC)
    assert untouched.key == "c"


def test_rows_update_with_nothing_to_write_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_update([], ["key"]) == 0


SQLITE_SCRIPT = """
import json
from datetime import UTC, datetime
from accounts.models import User
from cloudportal.db import rows_update
from cloudportal.models import IdempotencyKey
customer = User.objects.create_user("sqlite@example.com").customer
first, second = (
    IdempotencyKey.objects.create(customer=customer, key=key, request_fingerprint="f")
    for key in ("a", "b")
)
first.response_status, first.response_body = 201, {"ok": True}
second.key = "renamed"
second.locked_at = datetime(2027, 6, 7, 8, 9, 10, tzinfo=UTC)
print(rows_update([first, second], ["key", "response_status", "response_body", "locked_at"]))
rows = IdempotencyKey.objects.values_list("key", "response_status", "response_body", "locked_at")
print(json.dumps(sorted(rows), default=str))
"""


def test_rows_update_runs_on_sqlite_the_zero_setup_database(tmp_path):
    """`make run` defaults to SQLite: the reconciler's writes once failed there with a
    PostgreSQL-only cast ('unrecognized token: ":"')."""
    lines = run_on_sqlite(tmp_path, SQLITE_SCRIPT, app="cloudportal")

    count, rows = lines[-2:]
    assert count == "2"
    (first_key, status, body, _), second = json.loads(rows)
    assert (first_key, status, body) == ("a", 201, {"ok": True})
    assert second == ["renamed", None, None, "2027-06-07 08:09:10+00:00"]
