from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.overview_page, name="overview"),
    path("top-up/", views.topup_page, name="topup"),
    path("top-up/<str:topup_id>/return", views.topup_return_page, name="topup-return"),
]
