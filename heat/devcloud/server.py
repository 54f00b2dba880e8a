"""devcloud's HTTP server: Keystone at /v3, Heat at /heat/<region>/v1/<project>, control.

A stdlib ThreadingHTTPServer, so openstacksdk talks to it over real HTTP unchanged and
devcloud adds no dependency. One lock guards the state; waits (slow responses, a stalled
engine) happen outside it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from heat.devcloud import control, keystone
from heat.devcloud.errors import HeatApiError, unauthorized_body
from heat.devcloud.heat_api import HeatApi
from heat.devcloud.store import PROJECT_ID, Store
from heat.devcloud.wire import Request, Response

logger = logging.getLogger(__name__)

HTML_ERRORS = {
    502: "<html><body><h1>502 Bad Gateway</h1>The server returned an invalid or incomplete "
    "response.</body></html>",
    503: "<html><body><h1>503 Service Unavailable</h1>No server is available to handle this "
    "request.</body></html>",
    504: "<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time."
    "</body></html>",
}


def route(store: Store, request: Request) -> Response:
    path = request.path.rstrip("/") or "/"
    if path.startswith("/_devcloud/"):
        return control.handle(store, request, path.removeprefix("/_devcloud/"))
    if path == "/" and request.method == "GET":
        values = {"values": [keystone.version(request.base_url)]}
        return Response(300, {"versions": values}, headers={"Location": f"{request.base_url}/v3/"})
    if path == "/v3" and request.method == "GET":
        return Response(200, {"version": keystone.version(request.base_url)})
    if path == "/v3/auth/tokens":
        return _tokens(store, request)
    if path.startswith("/heat/"):
        return _heat(store, request, path)
    raise HeatApiError(404, "HTTPNotFound", "The resource could not be found.")


def _tokens(store: Store, request: Request) -> Response:
    if request.method == "POST":
        issued = keystone.issue_token(store, request.body, request.base_url)
        if issued is None:
            return Response(401, unauthorized_body(), headers=_www_authenticate(request))
        token, body = issued
        return Response(201, body, headers={"X-Subject-Token": token})
    if request.method == "DELETE":
        subject = request.headers.get("x-subject-token", "")
        with store.lock:
            record = store.data["tokens"].get(subject)
            if record is None:
                raise HeatApiError(404, "NotFound", "Could not find token.")
            record["revoked"] = True
            store.save()
        return Response(204)
    raise HeatApiError(405, "HTTPMethodNotAllowed", "Method not allowed")


def _www_authenticate(request: Request) -> dict[str, str]:
    return {"WWW-Authenticate": f'Keystone uri="{request.base_url}/v3"'}


def _heat(store: Store, request: Request, path: str) -> Response:
    parts = path.split("/", 5)  # "", "heat", region, "v1", project, rest
    if len(parts) < 5 or parts[3] != "v1" or parts[2] not in store.options.regions:
        raise HeatApiError(404, "HTTPNotFound", "The resource could not be found.")
    region, project_id = parts[2], parts[4]
    rest = parts[5] if len(parts) > 5 else ""
    stall = store.faults.get("engine_stall")
    delay = store.delay_for(request.method, path)
    if delay:
        time.sleep(delay)
    with store.lock:
        token = keystone.heat_token_info(store, request.headers.get("x-auth-token"))
    if token is None:
        return Response(401, unauthorized_body(), headers=_www_authenticate(request))
    if token["revoked"] and request.method == "POST" and rest == "stacks":
        # heat-api still accepts the revoked token from its cache, but the engine's trust
        # creation gets 401 from Keystone: heat-observed.md "Tokens".
        raise HeatApiError(500, "RemoteError")
    if stall:
        # heat-api waits for heat-engine's reply until rpc_response_timeout, then 500s.
        time.sleep(float(stall.get("seconds", 60)))
        raise HeatApiError(
            500,
            "MessagingTimeout",
            f"Timed out waiting for a reply to message ID {uuid.uuid4().hex}",
        )
    fault = store.take_http_fault(request.method, path, region)
    if fault is not None:
        status = int(fault.get("status", 503))
        if status in HTML_ERRORS:
            return Response(status, html=HTML_ERRORS[status])
        if status == 409:
            raise HeatApiError(
                409, "ActionInProgress", "Stack already has an action (CREATE) in progress."
            )
        raise HeatApiError(status, "InternalError", fault.get("message") or "Injected fault")
    if project_id != PROJECT_ID:
        raise HeatApiError(403, "HTTPForbidden", "Access was denied to this resource.")
    if (
        request.method == "POST"
        and rest == "stacks"
        and token["method"] == "application_credential"
        and store.faults.get("appcred_trusts_forbidden")
    ):
        raise HeatApiError(
            403,
            "Forbidden",
            "Using method 'application_credential' is not allowed for managing trusts.",
        )
    with store.lock:
        return HeatApi(store, request, region, project_id).handle(rest)


class Handler(BaseHTTPRequestHandler):
    server: DevcloudServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, a kept-alive connection waits for
    # the client's delayed ACK (~40 ms) before the body, on every response.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("devcloud.request " + format, *args)

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            raw_query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=f"http://{host}",
        )
        store = self.server.store
        try:
            response = route(store, request)
        except HeatApiError as error:
            response = Response(error.status, error.body())
        except Exception as error:  # a devcloud bug must still answer like Heat would
            logger.exception("devcloud.error")
            response = Response(500, HeatApiError(500, type(error).__name__).body())
        if not split.path.startswith("/_devcloud/"):
            store.log_request(
                {
                    "method": self.command,
                    "path": split.path,
                    "query": split.query,
                    "body": body,
                    "status": response.status,
                }
            )
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.html is not None:
            payload, content_type = response.html.encode(), "text/html; charset=UTF-8"
        elif response.status == 204:
            payload, content_type = b"", "application/json"
        else:
            payload, content_type = json.dumps(response.body).encode(), "application/json"
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-openstack-request-id", f"req-{uuid.uuid4()}")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class DevcloudServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        super().__init__(address, Handler)
        self.store = store


def start_in_thread(store: Store, host: str = "127.0.0.1", port: int = 0) -> DevcloudServer:
    """A running devcloud in this process, on `port` (0: any free one)."""
    server = DevcloudServer((host, port), store)
    threading.Thread(target=server.serve_forever, name="devcloud", daemon=True).start()
    return server
