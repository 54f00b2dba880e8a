"""The support pages' forms. What is valid (the deployment, attachments) is decided by the
services; their field errors land on these fields."""

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from deployments.models import Deployment
from support.models import Category, Priority


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class TicketCreateForm(forms.Form):
    subject = forms.CharField(max_length=200)
    category = forms.ChoiceField(choices=Category.choices, initial=Category.OTHER)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.NORMAL)
    deployment = forms.ChoiceField(required=False, label="About a deployment")
    body = forms.CharField(
        label="Message",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Plain text. What happened, what you expected, and when.",
    )
    attachments = MultipleFileField(required=False, help_text="Screenshots or logs.")

    def __init__(self, *args: Any, deployments: Sequence[Deployment], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        deployment_field = self.fields["deployment"]
        assert isinstance(deployment_field, forms.ChoiceField)
        deployment_field.choices = [("", "None")] + [
            (
                deployment.public_id,
                f"{deployment.name} ({deployment.public_id}, {deployment.status})",
            )
            for deployment in deployments
        ]


class TicketReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply", max_length=20_000, widget=forms.Textarea(attrs={"rows": 6})
    )
    attachments = MultipleFileField(required=False, help_text="Screenshots or logs.")
