"""Pages owned by the project itself: the landing page and the error pages."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "cloudportal/landing.html")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: rendering must not touch the database that may have failed.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
