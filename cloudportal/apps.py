from django.apps import AppConfig


class CloudportalConfig(AppConfig):
    name = "cloudportal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # drf-spectacular finds extensions by their import.
        from cloudportal.api import schema  # noqa: F401
