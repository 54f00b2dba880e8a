"""Billing's usage watermark starts where metering's stands, so invoices wait for a
metering backlog that exists when this is deployed (billing cannot read metering's)."""

from django.db import migrations


def usage_watermark_backfill(apps, schema_editor):
    MeteringWatermark = apps.get_model("deployments", "MeteringWatermark")
    UsageWatermark = apps.get_model("billing", "UsageWatermark")
    metering = MeteringWatermark.objects.filter(name="usage").first()
    if metering is not None:
        UsageWatermark.objects.update_or_create(
            name="usage",
            defaults={"posted_until": metering.metered_until, "updated_at": metering.updated_at},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_usage_watermark"),
        ("deployments", "0005_created_by_key"),
    ]

    operations = [migrations.RunPython(usage_watermark_backfill, migrations.RunPython.noop)]
