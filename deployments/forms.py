"""The create page's form: it offers the catalog's choices and translates the request.

Whether a combination is offered (region, type, image, storage, volume size, SSH
keys) is decided by `services.deployment_create`; its field errors land on these fields.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms

from accounts.models import SshKey
from catalog.models import Image, InstanceType, StorageProfile
from catalog.pricing import price_monthly_to_hourly
from catalog.selectors import RegionOffer

# The service (and the quote endpoint) name the volume size `size_gb`.
SERVICE_FIELD_NAMES = {"size_gb": "volume_size_gb"}


class OfferSelect(forms.Select):
    """A select whose options carry data attributes (the regions offering each choice…).

    The create page's script hides the options the chosen region does not offer; without
    JavaScript every option stays and the service names what is not offered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.option_attrs: dict[str, dict[str, str]] = {}

    def create_option(
        self,
        name: str,
        value: Any,
        label: Any,
        selected: Any,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"].update(self.option_attrs.get(str(value), {}))
        return option


def _instance_type_label(instance_type: InstanceType) -> str:
    return (
        f"{instance_type.gpu_count}x {instance_type.gpu_model} {instance_type.gpu_memory_gb} GB"
        f" · {instance_type.vcpus} vCPU · {instance_type.ram_gb} GB RAM"
        f" · ${instance_type.hourly_price:.2f}/h ({instance_type.slug})"
    )


def _image_label(image: Image) -> str:
    return f"{image.name} ({image.slug})"


def _storage_label(profile: StorageProfile) -> str:
    sizes = f"{profile.min_size_gb} to {profile.max_size_gb} GB"
    return f"{profile.name} · ${profile.price_per_gb_month:.2f} per GB-month ({sizes})"


def _offered_where(
    offers: Sequence[RegionOffer], items: str
) -> tuple[list[Any], dict[str, list[str]]]:
    """The distinct objects offered in any region, and the regions offering each slug."""
    objects: dict[str, Any] = {}
    regions: dict[str, list[str]] = {}
    for offer in offers:
        for item in getattr(offer, items):
            objects.setdefault(item.slug, item)
            regions.setdefault(item.slug, []).append(offer.region.slug)
    return sorted(objects.values(), key=lambda item: item.slug), regions


class DeploymentCreateForm(forms.Form):
    # Free text behind a select: the service, not the form, says what is not offered.
    region = forms.CharField(widget=OfferSelect)
    instance_type = forms.CharField(label="Instance type", widget=OfferSelect)
    image = forms.CharField(widget=OfferSelect)
    storage_profile = forms.CharField(required=False, label="Data volume", widget=OfferSelect)
    volume_size_gb = forms.IntegerField(
        min_value=1,
        required=False,
        label="Volume size (GB)",
        help_text="Leave empty for the storage profile's default size.",
    )
    name = forms.CharField(
        max_length=63,
        help_text="Lowercase letters, digits and hyphens: it becomes the machine's hostname.",
        widget=forms.TextInput(
            attrs={"placeholder": "trainer-1", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    ssh_keys = forms.MultipleChoiceField(
        required=False, label="SSH keys", widget=forms.CheckboxSelectMultiple
    )

    def __init__(
        self,
        data: Any = None,
        *,
        offers: Sequence[RegionOffer],
        ssh_keys: Iterable[SshKey],
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        self._choices_from_offers(offers)
        keys = list(ssh_keys)
        ssh_keys_field = self.fields["ssh_keys"]
        assert isinstance(ssh_keys_field, forms.MultipleChoiceField)
        ssh_keys_field.choices = [
            (key.public_id, f"{key.name} ({key.fingerprint})") for key in keys
        ]
        if not self.is_bound:
            self.initial.update(self._initial_choices(offers))
            # Every key by default: a machine nobody can log in to is the worse surprise.
            self.initial["ssh_keys"] = [key.public_id for key in keys]

    def _choices_from_offers(self, offers: Sequence[RegionOffer]) -> None:
        self._select("region").choices = [
            (offer.region.slug, f"{offer.region.name} ({offer.region.slug})") for offer in offers
        ]

        instance_types, type_regions = _offered_where(offers, "instance_types")
        select = self._select("instance_type")
        select.choices = [(item.slug, _instance_type_label(item)) for item in instance_types]
        select.option_attrs = {
            slug: {"data-regions": " ".join(regions)} for slug, regions in type_regions.items()
        }

        images, image_regions = _offered_where(offers, "images")
        select = self._select("image")
        select.choices = [(item.slug, _image_label(item)) for item in images]
        select.option_attrs = {
            slug: {"data-regions": " ".join(regions)} for slug, regions in image_regions.items()
        }

        profiles, profile_regions = _offered_where(offers, "storage_profiles")
        select = self._select("storage_profile")
        select.choices = [("", "No data volume")] + [
            (item.slug, _storage_label(item)) for item in profiles
        ]
        select.option_attrs = {
            item.slug: {
                "data-regions": " ".join(profile_regions[item.slug]),
                "data-min-size": str(item.min_size_gb),
                "data-max-size": str(item.max_size_gb),
                "data-default-size": str(item.default_size_gb),
                "data-price-per-gb-hour": str(price_monthly_to_hourly(item.price_per_gb_month)),
            }
            for item in profiles
        }

    def _select(self, name: str) -> OfferSelect:
        widget = self.fields[name].widget
        assert isinstance(widget, OfferSelect)
        return widget

    @staticmethod
    def _initial_choices(offers: Sequence[RegionOffer]) -> dict[str, str]:
        """The first region and the first of each choice offered there."""
        if not offers:
            return {}
        first = offers[0]
        initial = {"region": first.region.slug}
        if first.instance_types:
            initial["instance_type"] = first.instance_types[0].slug
        if first.images:
            initial["image"] = first.images[0].slug
        if first.storage_profiles:
            initial["storage_profile"] = first.storage_profiles[0].slug
        return initial

    def choices(self) -> dict[str, Any]:
        """The current choices (submitted or initial), as the quote and the service name them."""
        storage_profile = self["storage_profile"].value() or None
        size = self["volume_size_gb"].value()
        try:
            size_gb = int(size) if storage_profile and size not in (None, "") else None
        except (TypeError, ValueError):
            size_gb = None
        return {
            "region": self["region"].value() or "",
            "instance_type": self["instance_type"].value() or "",
            "image": self["image"].value() or "",
            "storage_profile": storage_profile,
            "size_gb": size_gb,
        }
