"""What a real `trireme serve` answers for the document, its page and paths with no route."""

from __future__ import annotations

import re
from importlib import resources

from core.openapi.docs import REDOC_VERSION
from tests.conftest import StartServer


def test_the_document_the_page_and_its_assets_are_served_by_the_server(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        document = http.get("/openapi.json")
        page = http.get("/docs")
        script = http.get("/docs/redoc.standalone.js")
        licence = http.get("/docs/redoc.LICENSE.txt")
        unknown = http.get("/docs/secret.txt")
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    paths = document.json()["paths"]
    for path in ("/v2/apps", "/scheduler/iso8601", "/v1/scheduler/iso8601", "/aurora/jobs", "/master/state",
                 "/api/v1/scheduler"):
        assert path in paths, path
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"Redoc {REDOC_VERSION}" in page.text
    # everything the page loads comes from this server: relative URLs only
    loaded = re.findall(r'(?:src|href|spec-url)="([^"]+)"', page.text)
    assert sorted(loaded) == ["docs/redoc.standalone.js", "openapi.json"]
    vendored = resources.files("core.openapi") / "static"
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.content == (vendored / "redoc.standalone.js").read_bytes()
    assert licence.status_code == 200 and "MIT" in licence.text
    assert unknown.status_code == 404 and "redoc.standalone.js" in unknown.json()["message"]


def test_a_path_or_method_with_no_route_is_answered_in_its_api_s_error_shape(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as http:
        marathon = http.get("/v2/nowhere")
        method = http.delete("/v2/info")
        chronos = http.get("/scheduler/nowhere")
        aurora = http.get("/aurora/nowhere")
        core = http.get("/nowhere")
    assert marathon.status_code == 404 and marathon.json() == {"message": "HTTP 404 Not Found"}  # as Marathon
    assert method.status_code == 405 and method.json() == {"message": "HTTP 405 Method Not Allowed"}
    assert "GET" in method.headers["allow"]
    assert chronos.status_code == 404 and chronos.json() == {"status": "Not Found", "message": "HTTP 404 Not Found"}
    assert aurora.status_code == 404
    assert aurora.json() == {"responseCode": "INVALID_REQUEST", "details": [{"message": "HTTP 404 Not Found"}]}
    assert core.status_code == 404 and core.json() == {"message": "HTTP 404 Not Found"}
