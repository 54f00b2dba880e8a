"""Catalog API: public read-only lists and details, the offers document, and the quote.

Catalog reads are public (AllowAny), like every cloud's pricing page: prices and
configurations are not secrets, and a visitor can price a machine before signing up.
Anonymous visitors and customers see what is offered; staff also see retired and
unoffered objects. Responses are cached per audience and query, keyed by the catalog
version (see `catalog.selectors.catalog_cached`).
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api import serializers as api
from catalog.models import SLUG_PATTERN
from catalog.pricing import HOURS_PER_MONTH_INT
from cloudportal.api.pagination import CursorPagination
from cloudportal.api.scopes import PUBLIC, scopes


class CatalogPagination(CursorPagination):
    ordering = "slug"


def _is_staff(request: Request) -> bool:
    return bool(request.user and request.user.is_staff)


def _cache_key(request: Request, *parts: Any) -> str:
    """Audience + host (pagination links are absolute) + the given, already validated parts."""
    raw = json.dumps(
        ["staff" if _is_staff(request) else "public", request.get_host(), *parts],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


class CatalogReadViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    api_key_scopes = scopes(read=PUBLIC, write=PUBLIC)  # the catalog is public
    permission_classes = [AllowAny]
    pagination_class = CatalogPagination
    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN
    # Each subclass names its filters and the selector that lists its objects.
    filters_serializer: type[serializers.Serializer]
    selector: Callable[..., QuerySet[Any]]

    def filters(self) -> dict[str, Any]:
        """The list's validated filters (validated once per request)."""
        if self.action != "list":
            return {}
        if not hasattr(self, "_filters"):
            data = self.filters_serializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            self._filters = dict(data.validated_data)
        return self._filters

    def get_queryset(self) -> QuerySet[Any]:
        return type(self).selector(include_unavailable=_is_staff(self.request), **self.filters())

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.filters()  # validated before the cache: bad input is never cached
        # The whole URL, not the parameters we read: the page's `next`/`previous` links
        # repeat every parameter, so two URLs must never share an entry.
        key = _cache_key(request, self.basename, "list", request.build_absolute_uri())
        body = selectors.catalog_cached(
            key=key, build=lambda: super(CatalogReadViewSet, self).list(request).data
        )
        return Response(body)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _cache_key(request, self.basename, "detail", kwargs["slug"])
        body = selectors.catalog_cached(
            key=key,
            build=lambda: super(CatalogReadViewSet, self).retrieve(request, *args, **kwargs).data,
        )
        return Response(body)


@extend_schema_view(
    list=extend_schema(summary="List regions", parameters=[api.RegionListFilters]),
    retrieve=extend_schema(summary="Get a region"),
)
class RegionViewSet(CatalogReadViewSet):
    serializer_class = api.RegionOutput
    filters_serializer = api.RegionListFilters
    selector = selectors.region_list


@extend_schema_view(
    list=extend_schema(summary="List GPU instance types", parameters=[api.InstanceTypeListFilters]),
    retrieve=extend_schema(summary="Get a GPU instance type"),
)
class InstanceTypeViewSet(CatalogReadViewSet):
    serializer_class = api.InstanceTypeOutput
    filters_serializer = api.InstanceTypeListFilters
    selector = selectors.instance_type_list


@extend_schema_view(
    list=extend_schema(summary="List images", parameters=[api.ImageListFilters]),
    retrieve=extend_schema(summary="Get an image"),
)
class ImageViewSet(CatalogReadViewSet):
    serializer_class = api.ImageOutput
    filters_serializer = api.ImageListFilters
    selector = selectors.image_list


@extend_schema_view(
    list=extend_schema(summary="List storage profiles", parameters=[api.OfferedListFilters]),
    retrieve=extend_schema(summary="Get a storage profile"),
)
class StorageProfileViewSet(CatalogReadViewSet):
    serializer_class = api.StorageProfileOutput
    filters_serializer = api.OfferedListFilters
    selector = selectors.storage_profile_list


class OfferListApi(APIView):
    api_key_scopes = scopes(read=PUBLIC, write=PUBLIC)
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="catalog_offers_list",
        summary="What can be launched where, with prices",
        description=(
            "Per available region (or the one named by `region`): the instance types, images "
            "and storage profiles offered there. The same for every audience."
        ),
        parameters=[api.OfferListFilters],
        responses=api.OfferListOutput,
    )
    def get(self, request: Request) -> Response:
        filters = api.OfferListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        region = filters.validated_data.get("region")

        def build() -> dict[str, Any]:
            offers = selectors.offer_list(region=region)
            return dict(
                api.OfferListOutput(
                    {"hours_per_month": HOURS_PER_MONTH_INT, "results": offers}
                ).data
            )

        return Response(
            selectors.catalog_cached(key=_cache_key(request, "offers", region), build=build)
        )


class QuoteApi(APIView):
    api_key_scopes = scopes(read=PUBLIC, write=PUBLIC)
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="catalog_quote",
        summary="Price a configuration",
        description=(
            "Hourly and monthly (730 hours) price of an instance type with an optional data "
            "volume, with the compute/storage breakdown. Storage always includes the system "
            "disk the machine boots from (`breakdown.storage.system_disk_gb`), billed while "
            "the machine exists, running or stopped. A choice that is not offered answers "
            "400 `catalog_choice_not_offered` with `errors` naming each field and what is "
            "offered instead."
        ),
        request=api.QuoteInput,
        responses=api.QuoteOutput,
    )
    def post(self, request: Request) -> Response:
        data = api.QuoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        spec = selectors.deployment_spec_resolve(**data.validated_data)
        return Response(
            api.QuoteOutput(
                {
                    "region": spec.region,
                    "instance_type": spec.instance_type,
                    "image": spec.image,
                    "storage_profile": spec.storage_profile,
                    "size_gb": spec.volume_size_gb,
                    "currency": spec.price.currency,
                    "hours_per_month": HOURS_PER_MONTH_INT,
                    "hourly_price": spec.price.total.hourly,
                    "monthly_price": spec.price.total.monthly,
                    "breakdown": {
                        "compute": spec.price.compute,
                        "storage": {
                            "hourly": spec.price.storage.hourly,
                            "monthly": spec.price.storage.monthly,
                            "system_disk_gb": spec.price.system_disk_gb,
                            "data_volume_gb": spec.price.data_volume_gb,
                        },
                    },
                }
            ).data
        )
