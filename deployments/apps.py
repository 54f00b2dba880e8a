from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # Billing prices a runway without importing deployments: it asks what we register.
        from billing.runway import hourly_cost_provider_register
        from billing.signals import wallet_changed
        from deployments.receivers import wallet_changed_react
        from deployments.runway import customer_hourly_cost, customers_hourly_cost

        hourly_cost_provider_register(customer_hourly_cost, bulk=customers_hourly_cost)
        # Pushes the balance and checks low balance, coalesced on a worker.
        wallet_changed.connect(wallet_changed_react, dispatch_uid="deployments.wallet_reactions")
        # A Celery pool process sends the marks it still keeps before it goes.
        from celery.signals import worker_process_shutdown

        from deployments.wallet_reactions import marks_flush_at_exit

        worker_process_shutdown.connect(marks_flush_at_exit, weak=False)

        # The API keys page shows each key's month-to-date spend; accounts asks us.
        from accounts.api_keys import api_key_month_spend_provider_register
        from deployments.selectors import api_keys_month_spend

        api_key_month_spend_provider_register(api_keys_month_spend)
