"""A service's refusal shown on a form: per field where the form has the field."""

from django import forms

from cloudportal.exceptions import DomainError
from cloudportal.forms import form_add_domain_error


class SizeForm(forms.Form):
    volume_size_gb = forms.IntegerField()
    name = forms.CharField()


def bound() -> SizeForm:
    form = SizeForm({"volume_size_gb": "5", "name": "x"})
    assert form.is_valid()
    return form


def test_per_field_messages_land_on_the_fields_the_rest_on_the_form():
    form = bound()
    error = DomainError("Refused.", errors={"size_gb": ["Too big."], "region": ["Closed."]})

    form_add_domain_error(form, error, field_names={"size_gb": "volume_size_gb"})

    assert form.errors["volume_size_gb"] == ["Too big."]
    assert form.non_field_errors() == ["Closed."]


def test_an_error_without_fields_goes_on_the_default_field_or_the_form():
    on_form, on_name = bound(), bound()

    form_add_domain_error(on_form, DomainError("Refused."))
    form_add_domain_error(on_name, DomainError("Refused."), default_field="name")

    assert on_form.non_field_errors() == ["Refused."]
    assert on_name.errors["name"] == ["Refused."]
