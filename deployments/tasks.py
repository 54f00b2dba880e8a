"""Thin Celery wrappers: ids in, one service call."""

from celery import shared_task

from deployments import (
    events,
    low_balance,
    metering,
    reconcile_requests,
    reconciler,
    wallet_reactions,
)


@shared_task(name="deployments.provision")
def deployment_provision_task(deployment_id: int) -> None:
    reconciler.deployment_provision(deployment_id=deployment_id)


@shared_task(name="deployments.delete_stack")
def deployment_delete_stack_task(deployment_id: int) -> None:
    reconciler.deployment_delete_stack(deployment_id=deployment_id)


@shared_task(name="deployments.reconcile", ignore_result=True)
def deployments_reconcile_task() -> None:
    reconciler.regions_reconcile()


@shared_task(name="deployments.region_reconcile", ignore_result=True)
def region_reconcile_task(region_id: int) -> None:
    reconcile_requests.region_reconcile_requested(region_id=region_id)


@shared_task(name="deployments.orphan_sweep")
def orphan_stacks_sweep_task() -> list[str]:
    return reconciler.orphan_stacks_sweep()


@shared_task(name="deployments.update_stack")
def deployment_update_stack_task(deployment_id: int) -> None:
    reconciler.deployment_update_stack(deployment_id=deployment_id)


@shared_task(name="deployments.low_balance_sweep", ignore_result=True)
def low_balance_sweep_task() -> None:
    low_balance.low_balance_sweep()


@shared_task(
    name="deployments.low_balance_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def low_balance_email_task(customer_id: int, kind: str) -> None:
    low_balance.low_balance_email_send(customer_id=customer_id, kind=kind)


@shared_task(name="deployments.usage_meter", ignore_result=True)
def usage_meter_task() -> None:
    metering.usage_meter()


@shared_task(name="deployments.wallet_reactions_drain", ignore_result=True)
def wallet_reactions_drain_task() -> None:
    wallet_reactions.wallet_reactions_drain()


@shared_task(name="deployments.balances_publish", ignore_result=True)
def balances_publish_task(customer_ids: list[int]) -> None:
    events.publish_balances(customer_ids=customer_ids)
