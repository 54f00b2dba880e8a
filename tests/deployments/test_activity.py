from accounts.models import ActivityEntry


def test_creating_and_deleting_a_deployment_is_logged(client, customer, launch):
    deployment = launch()

    client.delete(f"/api/v1/deployments/{deployment.public_id}")

    entries = ActivityEntry.objects.filter(customer=customer, verb__startswith="deployment.")
    assert [
        (e.verb, e.object_id, e.data["name"], e.actor_label)
        for e in entries.order_by("created_at", "id")
    ] == [
        ("deployment.created", deployment.public_id, "trainer-1", customer.user.email),
        ("deployment.deleted", deployment.public_id, "trainer-1", customer.user.email),
    ]


def test_a_refused_deployment_create_is_not_logged_as_created(
    client, customer, spec, catalog, cloud
):
    response = client.post("/api/v1/deployments", {**spec, "name": "Bad Name"})

    assert response.status_code == 400
    assert not ActivityEntry.objects.filter(verb="deployment.created").exists()
