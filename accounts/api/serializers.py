from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ActivityEntry, ActivityVerb, ApiKey, Customer, LoginSession
from accounts.user_agents import user_agent_describe
from cloudportal.api.scopes import Scope
from cloudportal.api.serializers import QueryFilter, StrictInput


class NotificationPreferences(StrictInput):
    low_balance = serializers.BooleanField(required=False)
    deployment_failed = serializers.BooleanField(required=False)
    ticket_replies = serializers.BooleanField(required=False)


class AccountOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    email = serializers.EmailField(source="user.email")
    email_verified = serializers.SerializerMethodField()
    display_name = serializers.CharField()
    company = serializers.CharField()
    time_zone = serializers.CharField()
    notifications = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_email_verified(self, customer: Customer) -> bool:
        return bool(self.context["email_verified"])

    def get_notifications(self, customer: Customer) -> dict[str, bool]:
        return {
            "low_balance": customer.notify_low_balance,
            "deployment_failed": customer.notify_deployment_failed,
            "ticket_replies": customer.notify_ticket_replies,
        }


class AccountUpdateInput(StrictInput):
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False)
    notifications = NotificationPreferences(required=False)


class LoginSessionOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    ip_address = serializers.IPAddressField(allow_null=True)
    browser = serializers.SerializerMethodField()
    operating_system = serializers.SerializerMethodField()
    user_agent = serializers.CharField()
    current = serializers.SerializerMethodField(help_text="This is the session making the request.")

    def get_browser(self, login_session: LoginSession) -> str:
        return user_agent_describe(login_session.user_agent)[0]

    def get_operating_system(self, login_session: LoginSession) -> str:
        return user_agent_describe(login_session.user_agent)[1]

    def get_current(self, login_session: LoginSession) -> bool:
        return bool(login_session.session_key == self.context["current_session_key"])


class LoginSessionRevokeOthersOutput(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many sessions were ended.")


class SshKeyCreateInput(StrictInput):
    name = serializers.CharField(max_length=100)
    public_key = serializers.CharField(
        max_length=16_384,
        help_text="One OpenSSH public key line, e.g. 'ssh-ed25519 AAAA… me@laptop'.",
    )


class SshKeyOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    key_type = serializers.CharField()
    bits = serializers.IntegerField()
    fingerprint = serializers.CharField(
        help_text="SHA256 fingerprint, as `ssh-keygen -lf` prints it."
    )
    public_key = serializers.CharField()
    created_at = serializers.DateTimeField()


class ActivityListFilter(QueryFilter):
    verb = serializers.ChoiceField(choices=ActivityVerb.choices, required=False)
    object = serializers.CharField(
        max_length=60, required=False, help_text="Only entries about this public id."
    )


class ActivityActorOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActivityEntry.ActorKind.choices, source="actor_kind")
    name = serializers.SerializerMethodField(
        help_text="Email address, API key id, 'system', or 'Support team' for our staff."
    )

    def get_name(self, entry: ActivityEntry) -> str:
        if entry.actor_kind == ActivityEntry.ActorKind.STAFF:
            return "Support team"
        return entry.actor_label


class ActivityEntryOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    verb = serializers.ChoiceField(choices=ActivityVerb.choices)
    object_id = serializers.CharField(help_text="The public id of what the action was about.")
    actor = ActivityActorOutput(source="*")
    ip_address = serializers.IPAddressField(allow_null=True)
    details = serializers.DictField(source="data", help_text="Details that depend on the verb.")
    created_at = serializers.DateTimeField()


MICROS_PER_UNIT = Decimal(1_000_000)


class ApiKeyCreateInput(StrictInput):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), min_length=1, max_length=20
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=50,
        help_text="IPv4/IPv6 addresses or CIDR ranges the key may be used from; empty: any.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    monthly_spend_cap = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text="What deployments created through this key may cost per UTC month.",
    )


class ApiKeyOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    allowed_ips = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)
    monthly_spend_cap = serializers.SerializerMethodField()
    month_spend = serializers.SerializerMethodField(
        help_text="What deployments created through this key cost this UTC month."
    )
    prefix = serializers.SerializerMethodField(help_text="The secret's first characters.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_used_ip = serializers.IPAddressField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_monthly_spend_cap(self, api_key: ApiKey) -> str | None:
        if api_key.monthly_spend_cap is None:
            return None
        return f"{Decimal(api_key.monthly_spend_cap) / MICROS_PER_UNIT:.6f}"

    @extend_schema_field(OpenApiTypes.DECIMAL)
    def get_month_spend(self, api_key: ApiKey) -> str:
        micros = self.context.get("month_spend", {}).get(api_key.pk, 0)
        return f"{Decimal(micros) / MICROS_PER_UNIT:.6f}"

    def get_prefix(self, api_key: ApiKey) -> str:
        return api_key.lookup


class ApiKeyCreatedOutput(ApiKeyOutput):
    secret = serializers.CharField(
        help_text="The key itself: shown this once, store it now (we keep only a hash)."
    )
