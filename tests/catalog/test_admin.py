"""Staff edit everything in admin, with region mappings inline; nothing is ever deleted."""

import pytest

from catalog.models import (
    Image,
    InstanceType,
    Region,
    RegionImage,
    RegionInstanceType,
    RegionStorageProfile,
    StorageProfile,
)

pytestmark = pytest.mark.django_db

MODELS = ["region", "instancetype", "image", "storageprofile"]


@pytest.mark.parametrize("model", MODELS)
def test_every_catalog_kind_has_a_changelist_and_an_add_form(admin_client, seeded, model):
    assert admin_client.get(f"/admin/catalog/{model}/").status_code == 200
    assert admin_client.get(f"/admin/catalog/{model}/add/").status_code == 200


def test_region_page_shows_its_mappings_inline(admin_client, seeded):
    region = Region.objects.get(slug="eu-central-1")

    response = admin_client.get(f"/admin/catalog/region/{region.pk}/change/")

    inlines = [inline.formset.model for inline in response.context["inline_admin_formsets"]]
    assert inlines == [RegionInstanceType, RegionImage, RegionStorageProfile]
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 12


@pytest.mark.parametrize("model", [Region, InstanceType, Image, StorageProfile])
def test_nothing_can_be_deleted(admin_client, seeded, model):
    obj = model.objects.first()
    name = model._meta.model_name

    assert admin_client.get(f"/admin/catalog/{name}/{obj.pk}/delete/").status_code == 403
    actions = admin_client.get(f"/admin/catalog/{name}/").context["action_form"].fields["action"]
    assert [value for value, _ in actions.choices if value] == ["retire", "reactivate"]
    response = admin_client.get(f"/admin/catalog/{name}/{obj.pk}/change/")
    assert all(
        not inline.formset.can_delete for inline in response.context["inline_admin_formsets"]
    )


def test_retire_and_reactivate_actions(admin_client, seeded):
    pks = list(InstanceType.objects.filter(gpu_model="A100").values_list("pk", flat=True))

    admin_client.post("/admin/catalog/instancetype/", {"action": "retire", "_selected_action": pks})

    assert InstanceType.objects.filter(gpu_model="A100", is_active=True).count() == 0
    assert InstanceType.objects.count() == 12  # retired, not deleted

    admin_client.post(
        "/admin/catalog/instancetype/", {"action": "reactivate", "_selected_action": pks}
    )

    assert InstanceType.objects.filter(gpu_model="A100", is_active=True).count() == 4


def test_the_slug_cannot_change_once_created(admin_client, seeded):
    image = Image.objects.get(slug="ubuntu-24.04-cuda-12.8")

    response = admin_client.get(f"/admin/catalog/image/{image.pk}/change/")

    assert "slug" not in response.context["adminform"].form.fields


def test_retiring_stamps_when_it_changed(seeded):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from catalog.services import catalog_objects_set_active

    region = Region.objects.order_by("slug").first()
    later = timezone.now() + timedelta(days=1)
    with time_machine.travel(later, tick=False):
        catalog_objects_set_active(objects=Region.objects.filter(pk=region.pk), is_active=False)

    assert Region.objects.get(pk=region.pk).updated_at == later
