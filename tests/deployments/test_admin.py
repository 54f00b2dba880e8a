"""The staff console for deployments: search, inlines, and actions that call services."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import LoginSession, SshKey, User
from deployments import reconciler, services
from deployments.models import Deployment, LowBalanceEpisode, Status, StatusChange
from tests.accounts.factories import PASSWORD
from tests.deployments.conftest import refreshed

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    staff = Client()
    staff.force_login(User.objects.create_superuser("staff@example.com", PASSWORD))
    return staff


def act(staff_client, action: str, *deployments: Deployment):
    return staff_client.post(
        "/admin/deployments/deployment/",
        {"action": action, "_selected_action": [deployment.pk for deployment in deployments]},
        follow=True,
    )


def in_error(deployment: Deployment) -> Deployment:
    """DELETING → ERROR, as the worker leaves it after exhausting its delete attempts."""
    services.deployment_transition(deployment_id=deployment.pk, to_status=Status.DELETING)
    services.deployment_transition(
        deployment_id=deployment.pk,
        to_status=Status.ERROR,
        changes={"delete_attempts": reconciler.MAX_DELETE_ATTEMPTS},
    )
    return refreshed(deployment)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize("query", ["public_id", "name", "customer_id", "email", "stack_id"])
def test_changelist_search_finds_a_deployment(staff_client, launch, customer, query):
    deployment = launch(name="needle-1")
    launch(name="other-1")
    Deployment.objects.filter(pk=deployment.pk).update(stack_id="0b4c5f5e-stack-needle")
    term = {
        "public_id": deployment.public_id,
        "name": "needle-1",
        "customer_id": customer.public_id,
        "email": customer.user.email,
        "stack_id": "0b4c5f5e-stack-needle",
    }[query]

    response = staff_client.get("/admin/deployments/deployment/", {"q": term})

    assert response.status_code == 200
    found = list(response.context["cl"].result_list)
    assert deployment in found
    if query not in ("customer_id", "email"):
        assert found == [deployment]


def test_changelist_filters_and_change_page_with_inlines(staff_client, launch):
    deployment = launch()

    listing = staff_client.get(
        "/admin/deployments/deployment/",
        {"status__exact": "PENDING", "region__id__exact": deployment.region_id},
    )
    page = staff_client.get(f"/admin/deployments/deployment/{deployment.pk}/change/")

    assert list(listing.context["cl"].result_list) == [deployment]
    assert page.status_code == 200
    html = page.content.decode()
    assert "Status changes" in html
    assert "Deployment events" in html
    assert 'name="status"' not in html  # read-only: the worker and the actions own it


def test_staff_cannot_add_or_delete_deployments(staff_client, launch):
    deployment = launch()

    assert staff_client.get("/admin/deployments/deployment/add/").status_code == 403
    assert (
        staff_client.get(f"/admin/deployments/deployment/{deployment.pk}/delete/").status_code
        == 403
    )
    actions = staff_client.get("/admin/deployments/deployment/").context["action_form"]
    choices = [value for value, _ in actions.fields["action"].choices]
    assert "delete_selected" not in choices
    assert {"resync_now", "retry_delete", "mark_resolved"} <= set(choices)


def test_resync_now_makes_it_due_and_clears_an_expired_lease(staff_client, launch):
    stale, held = launch(name="stale"), launch(name="held")
    now = timezone.now()
    Deployment.objects.filter(pk=stale.pk).update(
        next_check_at=now + timedelta(hours=1),
        lease_owner="dead-worker",
        lease_expires_at=now - timedelta(minutes=1),
    )
    Deployment.objects.filter(pk=held.pk).update(
        next_check_at=now + timedelta(hours=1),
        lease_owner="busy-worker",
        lease_expires_at=now + timedelta(minutes=1),
    )

    response = act(staff_client, "resync_now", stale, held)

    stale, held = refreshed(stale), refreshed(held)
    assert stale.next_check_at <= timezone.now()
    assert (stale.lease_owner, stale.lease_expires_at) == ("", None)
    assert held.next_check_at <= timezone.now()
    assert held.lease_owner == "busy-worker"  # a live lease is a worker acting right now
    assert stale.status == held.status == Status.PENDING
    assert messages_of(response) == ["Queued for the reconciler: 2 deployment(s)."]


def test_resync_now_refuses_deployments_the_reconciler_does_not_watch(staff_client, launch):
    deployment = in_error(launch())
    before = deployment.next_check_at

    response = act(staff_client, "resync_now", deployment)

    assert refreshed(deployment).next_check_at == before
    assert messages_of(response) == [
        f"Not changed: {deployment.public_id} (It is Error: the reconciler no longer watches it.)"
    ]


def test_retry_delete_moves_error_to_deleting_and_the_worker_finishes(
    staff_client, launch, django_capture_on_commit_callbacks
):
    deployment = in_error(launch())

    with django_capture_on_commit_callbacks() as callbacks:
        response = act(staff_client, "retry_delete", deployment)

    deployment = refreshed(deployment)
    assert deployment.status == Status.DELETING
    assert deployment.delete_attempts == 0
    assert deployment.desired_state == "deleted"
    assert deployment.status_reason == "Deletion retried by our team."
    queued = [callback.__qualname__.split(".")[0] for callback in callbacks]
    assert queued == ["publish_deployments_changed", "_schedule_stack_delete"]
    assert messages_of(response) == ["Deletion retried: 1 deployment(s)."]
    # What the queued task runs: the stack was never created, so it is simply gone.
    reconciler.deployment_delete_stack(deployment_id=deployment.pk)
    assert refreshed(deployment).status == Status.DELETED


def test_retry_delete_refuses_anything_but_error(staff_client, launch):
    deployment = launch()

    response = act(staff_client, "retry_delete", deployment)

    assert refreshed(deployment).status == Status.PENDING
    assert refreshed(deployment).desired_state == "active"
    # Status labels, not `Status.ERROR`.
    assert messages_of(response) == [
        f"Not changed: {deployment.public_id} (It is Pending; this applies only to Error "
        "deployments.)"
    ]


def test_mark_resolved_moves_error_to_deleted_with_a_reason(staff_client, launch):
    deployment = in_error(launch())
    active = launch(name="running")

    response = act(staff_client, "mark_resolved", deployment, active)

    deployment = refreshed(deployment)
    assert deployment.status == Status.DELETED
    assert deployment.deleted_at is not None
    last = StatusChange.objects.filter(deployment=deployment).latest("created_at", "id")
    assert (last.from_status, last.to_status) == (Status.ERROR, Status.DELETED)
    assert "confirmed the cloud resources are gone" in last.reason
    assert refreshed(active).status == Status.PENDING
    assert messages_of(response)[0] == "Marked deleted: 1 deployment(s)."
    assert messages_of(response)[1].startswith(f"Not changed: {active.public_id}")


def test_customer_page_lists_deployments_ssh_keys_and_sessions_read_only(
    staff_client, launch, customer, ssh_key
):
    deployment = launch()
    gone = launch(name="gone-1")
    Deployment.objects.filter(pk=gone.pk).update(status=Status.DELETED)
    browser = Client()
    browser.post("/accounts/login/", {"login": customer.user.email, "password": PASSWORD})
    login_session = LoginSession.objects.filter(user=customer.user).latest("created_at")

    response = staff_client.get(f"/admin/accounts/customer/{customer.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    for admin_path, row in [
        ("deployments/deployment", deployment),
        ("deployments/deployment", gone),
        ("accounts/sshkey", ssh_key),
        ("accounts/loginsession", login_session),
    ]:
        assert f'href="/admin/{admin_path}/{row.pk}/change/"' in html
        assert row.public_id in html
    assert "Pending" in html
    assert "Deleted" in html
    assert ssh_key.fingerprint in html
    # Read-only: no inline form to add, change or delete anything.
    inlines = response.context["inline_admin_formsets"]
    assert [inline.formset.model for inline in inlines] == [SshKey, Deployment]
    assert [
        (inline.has_add_permission, inline.has_change_permission, inline.has_delete_permission)
        for inline in inlines
    ] == [(False, False, False)] * 2
    assert 'name="deployments-0-name"' not in html


def test_staff_see_each_customers_low_balance_episode_read_only(staff_client, customer):
    episode = LowBalanceEpisode.objects.create(
        customer=customer, warned_day_at=timezone.now(), dry_at=timezone.now()
    )

    listing = staff_client.get("/admin/deployments/lowbalanceepisode/")
    page = staff_client.get(f"/admin/deployments/lowbalanceepisode/{episode.pk}/change/")

    assert listing.status_code == 200
    assert customer.user.email in listing.content.decode()
    assert page.status_code == 200
    assert staff_client.get("/admin/deployments/lowbalanceepisode/add/").status_code == 403
    changed = staff_client.post(
        f"/admin/deployments/lowbalanceepisode/{episode.pk}/change/", {"dry_at_0": ""}
    )
    assert changed.status_code == 403
    episode.refresh_from_db()
    assert episode.dry_at is not None
