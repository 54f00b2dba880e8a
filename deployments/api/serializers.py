from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.pricing import price_hourly_to_monthly
from cloudportal.api.serializers import QueryFilter, StrictInput
from deployments.models import Deployment, Status


class DeploymentCreateInput(StrictInput):
    name = serializers.CharField(
        max_length=63, help_text="Lowercase letters, digits and hyphens; the machine's hostname."
    )
    region = serializers.CharField(max_length=64)
    instance_type = serializers.CharField(max_length=64)
    image = serializers.CharField(max_length=64)
    storage_profile = serializers.CharField(max_length=64, required=False, allow_null=True)
    volume_size_gb = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    ssh_keys = serializers.ListField(
        child=serializers.CharField(max_length=40),
        min_length=1,
        max_length=20,
        help_text="Ids of your SSH keys (`ssh_…`) to install for the login user.",
    )


class DeploymentListFilter(QueryFilter):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    region = serializers.CharField(max_length=64, required=False)
    include_deleted = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also list deleted deployments (hidden by default; `status=DELETED` lists "
        "only them).",
    )


class CatalogReferenceOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class DeploymentStorageOutput(serializers.Serializer):
    profile = serializers.CharField(source="storage_profile.slug")
    size_gb = serializers.IntegerField(source="volume_size_gb")


class DeploymentPriceOutput(serializers.Serializer):
    currency = serializers.CharField()
    hourly = serializers.DecimalField(max_digits=14, decimal_places=6, source="hourly_price")
    monthly = serializers.SerializerMethodField()
    compute_hourly = serializers.DecimalField(
        max_digits=14, decimal_places=6, source="compute_hourly_price"
    )
    storage_hourly = serializers.DecimalField(
        max_digits=14, decimal_places=6, source="storage_hourly_price"
    )

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=6))
    def get_monthly(self, deployment: Deployment) -> str:
        return str(price_hourly_to_monthly(Decimal(deployment.hourly_price)))


class DeploymentProgressOutput(serializers.Serializer):
    complete = serializers.IntegerField(source="progress_complete")
    total = serializers.IntegerField(source="progress_total")


class DeploymentOutputsOutput(serializers.Serializer):
    server_id = serializers.CharField()
    public_ip = serializers.CharField()
    private_ip = serializers.CharField()
    login_user = serializers.CharField()
    ssh_port = serializers.IntegerField()
    volume_id = serializers.CharField(allow_null=True)


class DeploymentSshKeyOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    fingerprint = serializers.CharField()


class DeploymentOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    desired_state = serializers.CharField()
    status_reason = serializers.CharField()
    region = CatalogReferenceOutput()
    instance_type = CatalogReferenceOutput()
    image = CatalogReferenceOutput()
    storage = serializers.SerializerMethodField()
    ssh_keys = DeploymentSshKeyOutput(many=True)
    price = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()
    ssh_command = serializers.SerializerMethodField(
        help_text="Ready to paste once the deployment is ACTIVE."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(DeploymentStorageOutput(allow_null=True))
    def get_storage(self, deployment: Deployment) -> dict[str, object] | None:
        if deployment.storage_profile_id is None:
            return None
        return dict(DeploymentStorageOutput(deployment).data)

    @extend_schema_field(DeploymentPriceOutput)
    def get_price(self, deployment: Deployment) -> dict[str, object]:
        return dict(DeploymentPriceOutput(deployment).data)

    @extend_schema_field(DeploymentProgressOutput(allow_null=True))
    def get_progress(self, deployment: Deployment) -> dict[str, object] | None:
        if deployment.status != Status.PROVISIONING:
            return None
        return dict(DeploymentProgressOutput(deployment).data)

    @extend_schema_field(DeploymentOutputsOutput(allow_null=True))
    def get_outputs(self, deployment: Deployment) -> dict[str, object] | None:
        if deployment.status != Status.ACTIVE or not deployment.outputs:
            return None
        return dict(DeploymentOutputsOutput(deployment.outputs).data)

    def get_ssh_command(self, deployment: Deployment) -> str | None:
        outputs = deployment.outputs
        if deployment.status != Status.ACTIVE or not outputs:
            return None
        port = "" if int(outputs["ssh_port"]) == 22 else f"-p {outputs['ssh_port']} "
        return f"ssh {port}{outputs['login_user']}@{outputs['public_ip']}"


class DeploymentEventOutput(serializers.Serializer):
    id = serializers.CharField(source="heat_event_id")
    occurred_at = serializers.DateTimeField()
    resource_name = serializers.CharField()
    resource_status = serializers.CharField()
    reason = serializers.CharField()
