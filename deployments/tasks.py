"""Thin Celery wrappers: ids in, one service call."""

from celery import shared_task

from deployments import events, metering, reconciler


@shared_task(name="deployments.provision")
def deployment_provision_task(deployment_id: int) -> None:
    reconciler.deployment_provision(deployment_id=deployment_id)


@shared_task(name="deployments.delete_stack")
def deployment_delete_stack_task(deployment_id: int) -> None:
    reconciler.deployment_delete_stack(deployment_id=deployment_id)


@shared_task(name="deployments.reconcile", ignore_result=True)
def deployments_reconcile_task() -> None:
    reconciler.regions_reconcile()


@shared_task(name="deployments.orphan_sweep")
def orphan_stacks_sweep_task() -> list[str]:
    return reconciler.orphan_stacks_sweep()


@shared_task(name="deployments.usage_meter", ignore_result=True)
def usage_meter_task() -> None:
    metering.usage_meter()


@shared_task(name="deployments.balances_publish", ignore_result=True)
def balances_publish_task(customer_ids: list[int]) -> None:
    events.publish_balances(customer_ids=customer_ids)
