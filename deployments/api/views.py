from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as accounts_selectors
from accounts.activity import actor_from_request
from accounts.models import Customer, User
from cloudportal.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from cloudportal.api.pagination import CursorPagination
from cloudportal.api.scopes import Scope, scopes
from deployments import selectors, services
from deployments.api.serializers import (
    DeploymentCreateInput,
    DeploymentEventOutput,
    DeploymentListFilter,
    DeploymentOutput,
)


def request_customer(request: Request) -> Customer:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return accounts_selectors.customer_for_user(user=request.user)


class DeploymentEventPagination(CursorPagination):
    # Heat's times are whole seconds and parallel resources share them: the id (the order
    # they were stored in, which is Heat's) breaks the ties.
    ordering = ("occurred_at", "id")  # type: ignore[assignment]  # DRF takes a tuple too
    page_size = 100


class DeploymentListCreateApi(APIView):
    api_key_scopes = scopes(read=Scope.DEPLOYMENTS_READ, write=Scope.DEPLOYMENTS_WRITE)
    pagination_class = CursorPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="deployments_list",
        summary="Your deployments, newest first",
        parameters=[DeploymentListFilter],
        responses=DeploymentOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = DeploymentListFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deployments = selectors.deployment_list(
            customer=request_customer(request), **filters.validated_data
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deployments, request, view=self)
        return paginator.get_paginated_response(DeploymentOutput(page, many=True).data)

    @extend_schema(
        operation_id="deployments_create",
        summary="Launch a GPU machine",
        description=(
            "Validates the choices against the catalog, captures the price, and starts "
            "provisioning; watch `status` (or the WebSocket) go PENDING → PROVISIONING → "
            "ACTIVE. Needs a verified email address (403 `email_unverified`) and an "
            "available balance of at least one hour of the machine's price, which is held "
            "while it runs (402 `insufficient_balance`, with `required`, `available`, "
            "`shortfall` as decimal strings and `top_up_url`)."
        ),
        request=DeploymentCreateInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: DeploymentOutput},
    )
    @idempotent(customer_id=lambda request: request_customer(request).pk)
    def post(self, request: Request) -> Response:
        data = DeploymentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        deployment = services.deployment_create(
            customer=request_customer(request),
            actor=actor_from_request(request),
            ssh_key_ids=values.pop("ssh_keys"),
            **values,
        )
        return Response(DeploymentOutput(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.DEPLOYMENTS_READ, write=Scope.DEPLOYMENTS_WRITE)

    @extend_schema(
        operation_id="deployments_retrieve", summary="One deployment", responses=DeploymentOutput
    )
    def get(self, request: Request, deployment_id: str) -> Response:
        deployment = selectors.deployment_get(
            customer=request_customer(request), public_id=deployment_id
        )
        return Response(DeploymentOutput(deployment).data)

    @extend_schema(
        operation_id="deployments_delete",
        summary="Delete a deployment (works while it is still being created)",
        responses={202: DeploymentOutput},
    )
    def delete(self, request: Request, deployment_id: str) -> Response:
        deployment = selectors.deployment_get(
            customer=request_customer(request), public_id=deployment_id
        )
        deployment = services.deployment_request_delete(
            deployment=deployment, actor=actor_from_request(request)
        )
        fresh = selectors.deployment_get(customer=deployment.customer, public_id=deployment_id)
        return Response(DeploymentOutput(fresh).data, status=status.HTTP_202_ACCEPTED)


class DeploymentEventListApi(APIView):
    api_key_scopes = scopes(read=Scope.DEPLOYMENTS_READ, write=Scope.DEPLOYMENTS_WRITE)
    pagination_class = DeploymentEventPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="deployments_events_list",
        summary="The deployment's cloud events, oldest first",
        parameters=[OpenApiParameter("cursor", str, required=False)],
        responses={200: DeploymentEventOutput(many=True), 404: OpenApiResponse()},
    )
    def get(self, request: Request, deployment_id: str) -> Response:
        deployment = selectors.deployment_get(
            customer=request_customer(request), public_id=deployment_id
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.deployment_event_list(deployment=deployment), request, view=self
        )
        return paginator.get_paginated_response(DeploymentEventOutput(page, many=True).data)


class DeploymentStopApi(APIView):
    api_key_scopes = scopes(read=Scope.DEPLOYMENTS_READ, write=Scope.DEPLOYMENTS_WRITE)

    @extend_schema(
        operation_id="deployments_stop",
        summary="Stop a running deployment (its GPU is released, its disks kept)",
        description=(
            "Moves it to STOPPING at once (compute billing ends now) and then STOPPED; "
            "storage is still billed. Asking again while it is STOPPING or STOPPED changes "
            "nothing and answers 202 with the deployment as it is (retries are safe); in "
            "any other status, 409 `deployment_state_conflict` naming it."
        ),
        request=None,
        responses={
            202: DeploymentOutput,
            409: OpenApiResponse(description="Neither running nor stopping or stopped."),
        },
    )
    def post(self, request: Request, deployment_id: str) -> Response:
        deployment = selectors.deployment_get(
            customer=request_customer(request), public_id=deployment_id
        )
        services.deployment_request_stop(deployment=deployment, actor=actor_from_request(request))
        fresh = selectors.deployment_get(customer=deployment.customer, public_id=deployment_id)
        return Response(DeploymentOutput(fresh).data, status=status.HTTP_202_ACCEPTED)


class DeploymentStartApi(APIView):
    api_key_scopes = scopes(read=Scope.DEPLOYMENTS_READ, write=Scope.DEPLOYMENTS_WRITE)

    @extend_schema(
        operation_id="deployments_start",
        summary="Start a stopped deployment from its kept disks",
        description=(
            "Moves it to STARTING; a new server boots from the same system volume and it is "
            "ACTIVE (billed) once running. Without GPU capacity it goes back to STOPPED "
            "with a plain reason, uncharged. Needs one hour of the machine's price "
            "available (402 `insufficient_balance` with `required`, `available`, "
            "`shortfall`). Asking again while it is STARTING or ACTIVE changes nothing and "
            "answers 202 with the deployment as it is (retries are safe); in any other "
            "status, 409 `deployment_state_conflict` naming it."
        ),
        request=None,
        responses={
            202: DeploymentOutput,
            402: OpenApiResponse(
                description="problem+json `insufficient_balance` with `required`, "
                "`available` and `shortfall` (USD, decimal strings) and `top_up_url`."
            ),
            409: OpenApiResponse(description="Neither stopped nor starting or running."),
        },
    )
    def post(self, request: Request, deployment_id: str) -> Response:
        deployment = selectors.deployment_get(
            customer=request_customer(request), public_id=deployment_id
        )
        services.deployment_request_start(deployment=deployment, actor=actor_from_request(request))
        fresh = selectors.deployment_get(customer=deployment.customer, public_id=deployment_id)
        return Response(DeploymentOutput(fresh).data, status=status.HTTP_202_ACCEPTED)
