"""Property-based API tests: schemathesis generates requests for every operation of the
OpenAPI document and sends them to the portal's WSGI application (the whole Django stack:
middleware, authentication, throttling, PostgreSQL, Redis) with an API key of every scope.
Each response must not be a 5xx, must match the documented schema, and every 4xx must be
application/problem+json with a stable `code`.

Examples per operation are few and the seed fixed, to stay inside the test time budget.
"""

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.accounts.factories import SshKeyFactory, VerifiedUserFactory, api_key_for

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 4


def problem_json_for_every_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    if 400 <= response.status_code < 500:
        headers = {name.lower(): value for name, value in response.headers.items()}
        content_type = headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (
            f"{case.method} {case.formatted_path} answered {response.status_code} "
            f"as {content_type!r}"
        )
        body = response.json()
        assert body["status"] == response.status_code
        assert body["code"]
    return None


@pytest.fixture
def api(settings: Any) -> Any:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "api_key": None},
    }
    # As Django's test client does: a request must not close the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_answers_within_its_schema_for_a_key_of_every_scope(api):
    customer = VerifiedUserFactory().customer
    SshKeyFactory(customer=customer)
    _, secret = api_key_for(customer)
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 30
    succeeded: set[str] = set()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            response = case.call_and_validate(
                headers=headers,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                    problem_json_for_every_4xx,
                ],
            )
            if response.status_code < 300:
                succeeded.add(f"{case.method} {case.path}")

        exercise()

    # The key really got in: every list this customer can read answered with data.
    assert {
        "GET /api/v1/deployments",
        "GET /api/v1/ssh-keys",
        "GET /api/v1/billing/balance",
        "GET /api/v1/tickets",
        "GET /api/v1/account",
    } <= succeeded
