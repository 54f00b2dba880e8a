from typing import Any

from django.contrib.auth import logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.activity import actor_from_request
from accounts.api.serializers import (
    MICROS_PER_UNIT,
    AccountOutput,
    AccountUpdateInput,
    ActivityEntryOutput,
    ActivityListFilter,
    ApiKeyCreatedOutput,
    ApiKeyCreateInput,
    ApiKeyOutput,
    LoginSessionOutput,
    LoginSessionRevokeOthersOutput,
    SshKeyCreateInput,
    SshKeyOutput,
)
from accounts.api_keys import (
    api_key_create,
    api_key_get,
    api_key_list,
    api_key_revoke,
    api_keys_month_spend,
)
from accounts.models import ApiKey, User
from cloudportal.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from cloudportal.api.pagination import CursorPagination
from cloudportal.api.scopes import SESSION_ONLY, Scope, scopes

NOTIFICATION_FIELDS = {
    "low_balance": "notify_low_balance",
    "deployment_failed": "notify_deployment_failed",
    "ticket_replies": "notify_ticket_replies",
}


def request_user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return request.user


def request_customer_id(request: Request) -> int:
    return selectors.customer_for_user(user=request_user(request)).pk


class AccountApi(APIView):
    api_key_scopes = scopes(read=Scope.ACCOUNT_READ, write=SESSION_ONLY)

    def _render(self, request: Request) -> Response:
        user = request_user(request)
        customer = selectors.customer_for_user(user=user)
        context = {"email_verified": selectors.email_is_verified(user=user)}
        return Response(AccountOutput(customer, context=context).data)

    @extend_schema(
        operation_id="account_retrieve",
        summary="Your account and settings",
        responses=AccountOutput,
    )
    def get(self, request: Request) -> Response:
        return self._render(request)

    @extend_schema(
        operation_id="account_update",
        summary="Change your settings (only the fields sent change)",
        request=AccountUpdateInput,
        responses=AccountOutput,
    )
    def patch(self, request: Request) -> Response:
        data = AccountUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        changes: dict[str, Any] = {
            field: value for field, value in data.validated_data.items() if field != "notifications"
        }
        for name, value in data.validated_data.get("notifications", {}).items():
            changes[NOTIFICATION_FIELDS[name]] = value
        customer = selectors.customer_for_user(user=request_user(request))
        services.customer_update_settings(customer=customer, **changes)
        return self._render(request)


class LoginSessionListApi(APIView):
    api_key_scopes = scopes(read=SESSION_ONLY, write=SESSION_ONLY)
    pagination_class = CursorPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="account_sessions_list",
        summary="Where you are logged in",
        responses=LoginSessionOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        login_sessions = selectors.login_session_list(user=request_user(request))
        page = paginator.paginate_queryset(login_sessions, request, view=self)
        context = {"current_session_key": request.session.session_key}
        return paginator.get_paginated_response(
            LoginSessionOutput(page, many=True, context=context).data
        )


class LoginSessionRevokeApi(APIView):
    api_key_scopes = scopes(read=SESSION_ONLY, write=SESSION_ONLY)

    @extend_schema(
        operation_id="account_sessions_revoke",
        summary="Log a session out (its next request is refused)",
        responses={204: OpenApiResponse(description="The session has ended.")},
    )
    def delete(self, request: Request, session_id: str) -> Response:
        login_session = selectors.login_session_get(
            user=request_user(request), public_id=session_id
        )
        if login_session.session_key == request.session.session_key:
            logout(request._request)  # ending this very session is a logout
        else:
            services.login_session_revoke(
                login_session=login_session, actor=actor_from_request(request)
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LoginSessionRevokeOthersApi(APIView):
    api_key_scopes = scopes(read=SESSION_ONLY, write=SESSION_ONLY)

    @extend_schema(
        operation_id="account_sessions_revoke_others",
        summary="Log out everywhere else",
        request=None,
        responses=LoginSessionRevokeOthersOutput,
    )
    def post(self, request: Request) -> Response:
        revoked = services.login_sessions_revoke_others(
            user=request_user(request),
            keep_session_key=request.session.session_key,
            actor=actor_from_request(request),
        )
        return Response(LoginSessionRevokeOthersOutput({"revoked": revoked}).data)


class SshKeyListCreateApi(APIView):
    api_key_scopes = scopes(read=Scope.SSH_KEYS_READ, write=Scope.SSH_KEYS_WRITE)
    pagination_class = CursorPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="ssh_keys_list", summary="Your SSH keys", responses=SshKeyOutput(many=True)
    )
    def get(self, request: Request) -> Response:
        customer = selectors.customer_for_user(user=request_user(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.ssh_key_list(customer=customer), request, view=self
        )
        return paginator.get_paginated_response(SshKeyOutput(page, many=True).data)

    @extend_schema(
        operation_id="ssh_keys_create",
        summary="Add an SSH public key",
        description=(
            "Accepts ed25519, ecdsa and rsa (at least 2048 bits) keys in OpenSSH format. "
            "Needs a verified email address (403 `email_unverified`)."
        ),
        request=SshKeyCreateInput,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: SshKeyOutput},
    )
    @idempotent(customer_id=request_customer_id)
    def post(self, request: Request) -> Response:
        data = SshKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        customer = selectors.customer_for_user(user=request_user(request))
        ssh_key = services.ssh_key_create(
            customer=customer, actor=actor_from_request(request), **data.validated_data
        )
        return Response(SshKeyOutput(ssh_key).data, status=status.HTTP_201_CREATED)


class SshKeyDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.SSH_KEYS_READ, write=Scope.SSH_KEYS_WRITE)

    @extend_schema(operation_id="ssh_keys_retrieve", summary="One SSH key", responses=SshKeyOutput)
    def get(self, request: Request, ssh_key_id: str) -> Response:
        customer = selectors.customer_for_user(user=request_user(request))
        ssh_key = selectors.ssh_key_get(customer=customer, public_id=ssh_key_id)
        return Response(SshKeyOutput(ssh_key).data)

    @extend_schema(
        operation_id="ssh_keys_delete",
        summary="Delete an SSH key (running machines keep it)",
        responses={204: OpenApiResponse(description="The key is deleted.")},
    )
    def delete(self, request: Request, ssh_key_id: str) -> Response:
        customer = selectors.customer_for_user(user=request_user(request))
        ssh_key = selectors.ssh_key_get(customer=customer, public_id=ssh_key_id)
        services.ssh_key_delete(ssh_key=ssh_key, actor=actor_from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActivityListApi(APIView):
    api_key_scopes = scopes(read=Scope.ACCOUNT_READ, write=SESSION_ONLY)
    pagination_class = CursorPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="activity_list",
        summary="Your activity log, newest first",
        description="Who did what to your account: sign-ins, keys, deployments, balance.",
        parameters=[ActivityListFilter],
        responses=ActivityEntryOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = ActivityListFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = selectors.activity_list(
            customer=selectors.customer_for_user(user=request_user(request)),
            verb=filters.validated_data.get("verb"),
            object_id=filters.validated_data.get("object"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(ActivityEntryOutput(page, many=True).data)


def _api_key_context(api_keys: list[ApiKey]) -> dict[str, Any]:
    return {"month_spend": api_keys_month_spend(api_keys=api_keys)}


class ApiKeyListCreateApi(APIView):
    api_key_scopes = scopes(read=SESSION_ONLY, write=SESSION_ONLY)  # keys never manage keys
    pagination_class = CursorPagination  # spectacular documents the page from it

    @extend_schema(
        operation_id="api_keys_list",
        summary="Your API keys, newest first (never their secrets)",
        responses=ApiKeyOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        customer = selectors.customer_for_user(user=request_user(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(api_key_list(customer=customer), request, view=self)
        page = list(page or [])
        return paginator.get_paginated_response(
            ApiKeyOutput(page, many=True, context=_api_key_context(page)).data
        )

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key (its secret is in this response only)",
        description=(
            "Keys authenticate as `Authorization: Bearer <secret>` and can do only what "
            "their scopes allow. Not idempotent: the secret is never stored, so no response "
            "could be replayed; revoke a spare key a retry made. Needs a verified email "
            "address (403 `email_unverified`)."
        ),
        request=ApiKeyCreateInput,
        responses={201: ApiKeyCreatedOutput},
    )
    def post(self, request: Request) -> Response:
        data = ApiKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        cap = values.pop("monthly_spend_cap", None)
        user = request_user(request)
        created = api_key_create(
            customer=selectors.customer_for_user(user=user),
            created_by=user,
            actor=actor_from_request(request),
            monthly_spend_cap=None if cap is None else int(cap * MICROS_PER_UNIT),
            **values,
        )
        body = ApiKeyOutput(created.api_key, context=_api_key_context([created.api_key])).data
        return Response({**body, "secret": created.secret}, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    api_key_scopes = scopes(read=SESSION_ONLY, write=SESSION_ONLY)  # keys never manage keys

    @extend_schema(operation_id="api_keys_retrieve", summary="One API key", responses=ApiKeyOutput)
    def get(self, request: Request, api_key_id: str) -> Response:
        customer = selectors.customer_for_user(user=request_user(request))
        api_key = api_key_get(customer=customer, public_id=api_key_id)
        return Response(ApiKeyOutput(api_key, context=_api_key_context([api_key])).data)

    @extend_schema(
        operation_id="api_keys_revoke",
        summary="Revoke an API key (its next request is refused)",
        responses={200: ApiKeyOutput},
    )
    def delete(self, request: Request, api_key_id: str) -> Response:
        customer = selectors.customer_for_user(user=request_user(request))
        api_key = api_key_get(customer=customer, public_id=api_key_id)
        api_key = api_key_revoke(api_key=api_key, actor=actor_from_request(request))
        return Response(ApiKeyOutput(api_key, context=_api_key_context([api_key])).data)
