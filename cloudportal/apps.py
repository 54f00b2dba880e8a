from django.apps import AppConfig


class CloudportalConfig(AppConfig):
    name = "cloudportal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.urls import register_converter

        from cloudportal.ids import PublicIdConverter

        # Before any URL conf is read: the apps' URLs use `<public_id:…>`.
        register_converter(PublicIdConverter, "public_id")
        # drf-spectacular finds extensions by their import.
        from cloudportal.api import schema  # noqa: F401
