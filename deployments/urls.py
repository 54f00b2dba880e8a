from django.urls import path

from deployments import views

app_name = "deployments"

urlpatterns = [
    path("", views.deployment_list_page, name="deployment-list"),
    path("new/", views.deployment_create_page, name="deployment-create"),
    path("<public_id:deployment_id>/", views.deployment_detail_page, name="deployment-detail"),
    path(
        "<public_id:deployment_id>/delete/", views.deployment_delete_page, name="deployment-delete"
    ),
    path("<public_id:deployment_id>/stop/", views.deployment_stop_page, name="deployment-stop"),
    path("<public_id:deployment_id>/start/", views.deployment_start_page, name="deployment-start"),
]
