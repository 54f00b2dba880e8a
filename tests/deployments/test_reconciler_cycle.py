"""What one reconciler cycle costs and what it leaves alone, against devcloud."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments import reconciler
from deployments.models import Deployment, Status
from heat import adapter
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


def provisioned(launch, count: int) -> list[Deployment]:
    deployments = [launch(name=f"box-{index}-{count}") for index in range(count)]
    for deployment in deployments:
        reconciler.deployment_provision(deployment_id=deployment.pk)
    return deployments


def cycle_queries(at) -> list[str]:
    with time_machine.travel(at), CaptureQueriesContext(connection) as queries:
        reconciler.regions_reconcile()
    return [query["sql"] for query in queries.captured_queries]


def test_a_cycle_costs_the_same_queries_for_one_change_or_many(launch, cloud, devcloud):
    first = provisioned(launch, 1)
    devcloud.advance(600)
    one = cycle_queries(timezone.now() + timedelta(seconds=10))
    assert refreshed(first[0]).status == Status.ACTIVE

    more = provisioned(launch, 4)
    devcloud.advance(600)
    four = cycle_queries(timezone.now() + timedelta(seconds=20))

    assert [refreshed(deployment).status for deployment in more] == [Status.ACTIVE] * 4
    assert len(four) == len(one), "\n".join(four)


def test_a_quiet_cycle_reads_no_stack_and_writes_nothing(launch, cloud, devcloud):
    deployments = provisioned(launch, 3)
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        reconciler.regions_reconcile()
    stamps = {d.pk: refreshed(d).updated_at for d in deployments}
    detail_reads = len(devcloud.requests("GET", "/stacks/dep_"))

    # Long after: every settled row is "due" by the clock, yet nothing changed in Heat.
    queries = cycle_queries(timezone.now() + timedelta(hours=2))

    assert len(devcloud.requests("GET", "/stacks/dep_")) == detail_reads
    assert not [sql for sql in queries if sql.startswith(("UPDATE", "INSERT", "DELETE"))]
    assert {d.pk: refreshed(d).updated_at for d in deployments} == stamps


def test_a_row_written_after_the_list_waits_for_the_next_list(launch, cloud, devcloud, monkeypatch):
    """A provisioning task that saves its stack while a cycle runs: the cycle's list is
    older than the stack, which must not read as "the stack disappeared"."""
    deployment = launch()
    real_rows = reconciler.Triage.rows

    def the_task_finishes_after_the_list(**kwargs):
        reconciler.deployment_provision(deployment_id=deployment.pk)
        return real_rows(**kwargs)

    monkeypatch.setattr(reconciler.Triage, "rows", the_task_finishes_after_the_list)
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        reports = reconciler.regions_reconcile()
    monkeypatch.setattr(reconciler.Triage, "rows", real_rows)

    deployment = refreshed(deployment)
    assert deployment.status == Status.PROVISIONING
    assert [stack.name for stack in adapter.stacks_list(region=cloud, tags=["cloudportal"])] == [
        deployment.stack_name
    ]
    assert sum(report.acted.get("create_failed", 0) for report in reports) == 0
    devcloud.advance(600)
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        reconciler.regions_reconcile()
    assert refreshed(deployment).status == Status.ACTIVE


def test_provisioning_is_one_create_call(launch, cloud, devcloud):
    """The create is idempotent by name in the adapter: no lookup before it."""
    deployment = launch()
    before = len(devcloud.requests(path_contains="/stacks"))

    reconciler.deployment_provision(deployment_id=deployment.pk)

    calls = devcloud.requests(path_contains="/stacks")[before:]
    assert [(call["method"], call["path"].rsplit("/", 1)[-1]) for call in calls] == [
        ("POST", "stacks")
    ]
    assert refreshed(deployment).status == Status.PROVISIONING
