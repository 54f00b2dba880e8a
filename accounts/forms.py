import zoneinfo

from django import forms

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
