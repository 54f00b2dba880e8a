from django.urls import path

from deployments.api import views

urlpatterns = [
    path("deployments", views.DeploymentListCreateApi.as_view(), name="deployments"),
    path(
        "deployments/<public_id:deployment_id>",
        views.DeploymentDetailApi.as_view(),
        name="deployment",
    ),
    path(
        "deployments/<public_id:deployment_id>/stop",
        views.DeploymentStopApi.as_view(),
        name="deployment-stop",
    ),
    path(
        "deployments/<public_id:deployment_id>/start",
        views.DeploymentStartApi.as_view(),
        name="deployment-start",
    ),
    path(
        "deployments/<public_id:deployment_id>/events",
        views.DeploymentEventListApi.as_view(),
        name="deployment-events",
    ),
]
