import zoneinfo
from decimal import Decimal

from django import forms

from cloudportal.api.scopes import Scope

TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones())]


class CustomerSettingsForm(forms.Form):
    display_name = forms.CharField(max_length=100, required=False)
    company = forms.CharField(max_length=200, required=False, help_text="Optional.")
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES)
    notify_low_balance = forms.BooleanField(required=False, label="Low balance")
    notify_deployment_failed = forms.BooleanField(required=False, label="A deployment failed")
    notify_ticket_replies = forms.BooleanField(required=False, label="Replies to my tickets")


class SshKeyForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "laptop"}))
    public_key = forms.CharField(
        max_length=16_384,
        label="Public key",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "ssh-ed25519 AAAA… you@laptop"}),
        help_text="The contents of your .pub file, e.g. ~/.ssh/id_ed25519.pub.",
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "nightly-training"})
    )
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    allowed_ips = forms.CharField(
        required=False,
        label="Allowed addresses",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "203.0.113.7\n2001:db8::/48"}),
        help_text="IPv4/IPv6 addresses or CIDR ranges, one per line. Empty: any address.",
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at 00:00 UTC that day. Empty: never.",
    )
    monthly_spend_cap = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=2,
        label="Monthly spend cap (USD)",
        help_text="What machines created through this key may cost per month. Empty: no cap.",
    )

    def cleaned_allowed_ips(self) -> list[str]:
        return [
            line.strip() for line in self.cleaned_data["allowed_ips"].splitlines() if line.strip()
        ]
