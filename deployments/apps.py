from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # Billing prices a runway without importing deployments: it asks what we register.
        from billing.runway import hourly_cost_provider_register
        from billing.signals import wallet_changed
        from deployments.receivers import wallet_changed_publish
        from deployments.runway import customer_hourly_cost, customers_hourly_cost

        hourly_cost_provider_register(customer_hourly_cost, bulk=customers_hourly_cost)
        wallet_changed.connect(wallet_changed_publish, dispatch_uid="deployments.balance_push")
