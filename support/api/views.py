from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as accounts_selectors
from accounts.models import Customer, User
from cloudportal.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from cloudportal.api.pagination import CursorPagination
from cloudportal.api.parsers import JSONParser
from cloudportal.api.scopes import Scope, scopes
from support import selectors, services
from support.api.serializers import (
    TicketCreateInput,
    TicketCreateMultipartInput,
    TicketListFilter,
    TicketMessageOutput,
    TicketOutput,
    TicketReplyInput,
    TicketReplyMultipartInput,
)
from support.models import Actor
from support.views import attachment_response


def request_user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated ran first
    return request.user


def request_customer(request: Request) -> Customer:
    return accounts_selectors.customer_for_user(user=request_user(request))


def uploaded_files(request: Request) -> list[Any]:
    files = getattr(request, "FILES", None)
    return list(files.getlist("attachments")) if files is not None else []


class MessagePagination(CursorPagination):
    ordering = "created_at"
    page_size = 100


class TicketListCreateApi(APIView):
    api_key_scopes = scopes(read=Scope.TICKETS_READ, write=Scope.TICKETS_WRITE)
    pagination_class = CursorPagination  # spectacular documents the page from it
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="tickets_list",
        summary="Your support tickets, newest first",
        parameters=[TicketListFilter],
        responses=TicketOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = TicketListFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tickets = selectors.ticket_list(
            customer=request_customer(request), **filters.validated_data
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(tickets, request, view=self)
        return paginator.get_paginated_response(TicketOutput(page, many=True).data)

    @extend_schema(
        operation_id="tickets_create",
        summary="Ask support",
        description=(
            "Opens a ticket with its first message. Send JSON, or `multipart/form-data` with "
            "`attachments` (repeated) for screenshots and logs; their size, number and types "
            "are limited (413 `attachment_too_large`, 415 `attachment_type_not_allowed`, "
            "400 `attachment_rejected`)."
        ),
        request={
            "application/json": TicketCreateInput,
            "multipart/form-data": TicketCreateMultipartInput,
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: TicketOutput},
    )
    @idempotent(customer_id=lambda request: request_customer(request).pk)
    def post(self, request: Request) -> Response:
        data = TicketCreateMultipartInput(data=request.data)  # JSON or form: strict either way
        data.is_valid(raise_exception=True)
        values = data.validated_data
        ticket = services.ticket_create(
            customer=request_customer(request),
            author=request_user(request),
            subject=values["subject"],
            body=values["body"],
            category=values["category"],
            priority=values["priority"],
            deployment_id=values.get("deployment") or None,
            attachments=uploaded_files(request),
        )
        return Response(TicketOutput(ticket).data, status=status.HTTP_201_CREATED)


class TicketDetailApi(APIView):
    api_key_scopes = scopes(read=Scope.TICKETS_READ, write=Scope.TICKETS_WRITE)

    @extend_schema(operation_id="tickets_retrieve", summary="One ticket", responses=TicketOutput)
    def get(self, request: Request, ticket_id: str) -> Response:
        ticket = selectors.ticket_get(customer=request_customer(request), public_id=ticket_id)
        return Response(TicketOutput(ticket).data)


class TicketMessageListCreateApi(APIView):
    api_key_scopes = scopes(read=Scope.TICKETS_READ, write=Scope.TICKETS_WRITE)
    pagination_class = MessagePagination  # spectacular documents the page from it
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="tickets_messages_list",
        summary="The ticket's conversation, oldest first",
        parameters=[OpenApiParameter("cursor", str, required=False)],
        responses={200: TicketMessageOutput(many=True), 404: OpenApiResponse()},
    )
    def get(self, request: Request, ticket_id: str) -> Response:
        ticket = selectors.ticket_get(customer=request_customer(request), public_id=ticket_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.message_list_for_customer(ticket=ticket), request, view=self
        )
        return paginator.get_paginated_response(TicketMessageOutput(page, many=True).data)

    @extend_schema(
        operation_id="tickets_reply",
        summary="Reply (it is support's turn again)",
        description=(
            "A closed ticket answers 409 `ticket_closed`: reopen it first. Attachments as in "
            "create."
        ),
        request={
            "application/json": TicketReplyInput,
            "multipart/form-data": TicketReplyMultipartInput,
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: TicketMessageOutput},
    )
    @idempotent(customer_id=lambda request: request_customer(request).pk)
    def post(self, request: Request, ticket_id: str) -> Response:
        ticket = selectors.ticket_get(customer=request_customer(request), public_id=ticket_id)
        data = TicketReplyMultipartInput(data=request.data)  # JSON or form: strict either way
        data.is_valid(raise_exception=True)
        message = services.message_customer_post(
            ticket=ticket,
            author=request_user(request),
            body=data.validated_data["body"],
            attachments=uploaded_files(request),
        )
        return Response(TicketMessageOutput(message).data, status=status.HTTP_201_CREATED)


class TicketCloseApi(APIView):
    api_key_scopes = scopes(read=Scope.TICKETS_READ, write=Scope.TICKETS_WRITE)

    @extend_schema(
        operation_id="tickets_close",
        summary="Close the ticket (closing a closed one changes nothing)",
        request=None,
        responses=TicketOutput,
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        ticket = selectors.ticket_get(customer=request_customer(request), public_id=ticket_id)
        services.ticket_close(ticket=ticket, actor=Actor.CUSTOMER, user=request_user(request))
        fresh = selectors.ticket_get(customer=ticket.customer, public_id=ticket_id)
        return Response(TicketOutput(fresh).data)


class TicketReopenApi(APIView):
    api_key_scopes = scopes(read=Scope.TICKETS_READ, write=Scope.TICKETS_WRITE)

    @extend_schema(
        operation_id="tickets_reopen",
        summary="Reopen a closed ticket (409 `ticket_state_conflict` if it is not closed)",
        request=None,
        responses=TicketOutput,
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        ticket = selectors.ticket_get(customer=request_customer(request), public_id=ticket_id)
        services.ticket_reopen(ticket=ticket, user=request_user(request))
        fresh = selectors.ticket_get(customer=ticket.customer, public_id=ticket_id)
        return Response(TicketOutput(fresh).data)


class TicketAttachmentApi(APIView):
    api_key_scopes = scopes(read=Scope.TICKETS_READ, write=Scope.TICKETS_WRITE)

    @extend_schema(
        operation_id="tickets_attachments_download",
        summary="Download an attachment",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, with its recognised type."
            ),
            404: OpenApiResponse(),
        },
    )
    def get(self, request: Request, ticket_id: str, attachment_id: str) -> FileResponse:
        attachment = selectors.attachment_get_for_customer(
            customer=request_customer(request), ticket_id=ticket_id, attachment_id=attachment_id
        )
        return attachment_response(attachment)
