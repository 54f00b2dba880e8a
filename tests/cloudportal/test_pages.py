"""The base layout, the landing page and the error pages, all in the portal's own look."""

import warnings
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from tests.accounts.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def test_landing_page_has_navigation_and_the_local_stylesheet(client):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'href="/static/css/portal.css"' in html
    assert 'href="/api/docs/"' in html
    assert 'href="/accounts/login/"' in html
    assert 'href="/accounts/signup/"' in html
    assert "GPU virtual machines" in html


@pytest.mark.django_db
def test_logged_in_user_sees_their_account_menu(client):
    user = UserFactory(email="ada@example.com")
    client.force_login(user)

    html = client.get("/").content.decode()

    assert "ada@example.com" in html
    assert "Log out" in html
    assert "Staff console" not in html


@pytest.mark.django_db
def test_staff_see_the_staff_console_link(client):
    client.force_login(UserFactory(is_staff=True))

    assert 'href="/admin/"' in client.get("/").content.decode()


def test_stylesheet_is_served_by_the_app(client):
    response = client.get("/static/css/portal.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


def test_static_files_stream_under_asgi_without_the_synchronous_iterator_warning():
    """uvicorn serves through the ASGI handler: a file response must be asynchronous there,
    or Django warns on every static file (and reads the file whole in a thread)."""
    from cloudportal.asgi import application

    path = "/static/css/portal.css"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def fetch() -> tuple[dict, bytes]:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await communicator.receive_output(10)
        body = b""
        while True:
            message = await communicator.receive_output(10)
            body += message.get("body", b"")
            if not message.get("more_body"):
                await communicator.wait(10)  # the handler finishes (and closes the body)
                return start, body

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start, body = async_to_sync(fetch)()

    assert start["status"] == 200
    assert body == (ROOT / "static" / "css" / "portal.css").read_bytes()
    assert [str(warning.message) for warning in caught] == []


def test_unknown_page_is_a_404_page_in_the_portal_look(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "We could not find that page" in html
    assert 'href="/static/css/portal.css"' in html


@pytest.mark.urls("tests.cloudportal.urls")
def test_page_error_is_a_500_page_without_details(client):
    client.raise_request_exception = False

    response = client.get("/test/page-that-breaks")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "a page bug" not in html
    assert 'href="/static/css/portal.css"' in html
