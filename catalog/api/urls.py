from django.urls import path
from rest_framework.routers import SimpleRouter

from catalog.api import views

router = SimpleRouter(trailing_slash=False)
router.register("regions", views.RegionViewSet, basename="region")
router.register("instance-types", views.InstanceTypeViewSet, basename="instance-type")
router.register("images", views.ImageViewSet, basename="image")
router.register("storage-profiles", views.StorageProfileViewSet, basename="storage-profile")

urlpatterns = [
    path("offers", views.OfferListApi.as_view(), name="offer-list"),
    path("quote", views.QuoteApi.as_view(), name="quote"),
    *router.urls,
]
