"""What pages and the staff console share about forms."""

from collections.abc import Mapping

from django import forms

from cloudportal.exceptions import DomainError


def form_add_domain_error(
    form: forms.Form,
    error: DomainError,
    *,
    field_names: Mapping[str, str] | None = None,
    default_field: str | None = None,
) -> None:
    """A service's refusal on the form: each per-field message on the matching field
    (`field_names` maps a service's name to the form's), the rest on the form itself.
    An error without per-field messages goes on `default_field` (None: the form)."""
    errors = error.errors or {default_field or "": [error.detail]}
    for field, messages in errors.items():
        name = (field_names or {}).get(field, field)
        for message in messages:
            form.add_error(name if name in form.fields else None, message)
