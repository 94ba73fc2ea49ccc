"""Error bodies of every shape become typed errors; the client loads no server code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from client_support import canned, glimpse

from glimpse.client import (
    BadRequest,
    ClientError,
    HTTPError,
    NotFound,
    ServerError,
    ServiceUnavailable,
    connect,
)
from glimpse.client.errors import error_class
from glimpse.client.imports import import_body

JSON = {"Content-Type": "application/json"}
SERVER_MODULES = (
    "starlette",
    "sqlalchemy",
    "granian",
    "pyvips",
    "alembic",
    "psycopg",
    "boto3",
    "swiftclient",
)


def _error_of(status: int, content_type: str, body: bytes) -> HTTPError:
    headers = {"Content-Type": content_type, "x-openstack-request-id": "req-canned"}
    with (
        canned({"/v2/images/x": (status, headers, body)}) as url,
        connect(endpoint=url, environ={}) as client,
        pytest.raises(HTTPError) as caught,
    ):
        client.images.get("x")
    return caught.value


def test_glimpse_error_body() -> None:
    body = {"error": {"code": 404, "title": "Not Found", "message": "No image found with ID x"}}
    error = _error_of(404, "application/json", json.dumps(body).encode())
    assert isinstance(error, NotFound)
    assert (error.status, error.title, error.message) == (
        404,
        "Not Found",
        body["error"]["message"],
    )
    assert error.request_id == "req-canned"


def test_glance_webob_error_body() -> None:
    body = {
        "message": "Bad sort key<br /><br />\n\n\n",
        "code": "400 Bad Request",
        "title": "Bad Request",
    }
    error = _error_of(400, "application/json; charset=UTF-8", json.dumps(body).encode())
    assert isinstance(error, BadRequest)
    assert (error.title, error.message) == ("Bad Request", "Bad sort key")
    assert str(error) == "400 Bad Request: Bad sort key (request id req-canned)"


def test_plain_text_and_html_error_bodies() -> None:
    error = _error_of(503, "text/plain", b"503 Service Unavailable\n\nthe store is down\n")
    assert isinstance(error, ServiceUnavailable)
    assert isinstance(error, ServerError)
    assert error.message == "the store is down"
    page = b"<html><body><h1>502 Bad Gateway</h1><p>upstream &amp; gone</p></body></html>"
    error = _error_of(502, "text/html", page)
    assert type(error) is ServerError
    assert error.message == "upstream & gone"
    assert "\n" not in str(error)


def test_malformed_json_error_body_is_still_an_error() -> None:
    error = _error_of(409, "application/json", b"{not json")
    assert error.status == 409
    assert error.message == "{not json"


def test_unknown_statuses_map_to_their_class() -> None:
    assert error_class(418) is HTTPError
    assert error_class(599) is ServerError
    assert issubclass(error_class(404), ClientError)


def test_importing_the_client_loads_no_server_module() -> None:
    code = (
        "import json, sys, glimpse.client, glimpse.client.pictures, glimpse.client.data;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert not loaded & set(SERVER_MODULES), loaded & set(SERVER_MODULES)


def test_client_commands_load_no_server_module() -> None:
    """`glimpse image` and `glimpse picture` run without the server's modules."""
    code = (
        "import json, sys, contextlib, io\n"
        "from glimpse.cli.main import main\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        "    codes = [main(['image', 'list', '--os-image-url', 'http://127.0.0.1:1']),\n"
        "             main(['picture', 'url', 'cat', '--size', '9x9', '--pictures-url', 'http://p'])]\n"
        "print(json.dumps([codes, sorted({m.split('.')[0] for m in sys.modules})]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    codes, loaded = json.loads(done.stdout)
    assert codes == [1, 0]
    assert not set(loaded) & set(SERVER_MODULES), set(loaded) & set(SERVER_MODULES)


def test_import_bodies_follow_the_api_reference() -> None:
    """The bodies of Glance's api-ref samples (images-import.inc), key for key."""
    assert import_body(
        "glance-direct", stores=["common", "cheap"], all_stores_must_succeed=False
    ) == {"method": {"name": "glance-direct"}, "stores": ["common", "cheap"],
          "all_stores_must_succeed": False}  # fmt: skip
    assert import_body(
        "web-download", uri="https://h/x.img", all_stores=True, all_stores_must_succeed=True
    ) == {"method": {"name": "web-download", "uri": "https://h/x.img"}, "all_stores": True,
          "all_stores_must_succeed": True}  # fmt: skip
    assert import_body(
        "glance-download", glance_region="REGION2", glance_image_id="c470",
        glance_service_interface="public",
    ) == {"method": {"name": "glance-download", "glance_image_id": "c470",
                     "glance_region": "REGION2", "glance_service_interface": "public"}}  # fmt: skip
    for method, options in (
        ("web-download", {}),
        ("glance-download", {"glance_region": "R"}),
        ("copy-image", {"stores": ["a"], "all_stores": True}),
    ):
        with pytest.raises(ValueError, match=r"needs|together"):
            import_body(method, **options)  # type: ignore[arg-type]


def test_image_tasks_as_glance_answers_them() -> None:
    """The command finds the image first (by id, else by name), as Glance serves it."""
    task = {
        "id": "ee22890e", "image_id": "dddd", "type": "api_image_import",
        "status": "processing", "message": "Copied 15 MiB", "input": {"image_id": "dddd"},
        "result": None, "created_at": "2020-12-18T05:20:38.000000",
        "updated_at": "2020-12-18T05:25:39.000000", "expires_at": None,
    }  # fmt: skip
    image = {
        "id": "dddd", "name": "cirros", "status": "importing", "visibility": "private",
        "tags": [], "protected": False, "os_hidden": False, "container_format": "bare",
        "disk_format": "qcow2", "min_disk": 0, "min_ram": 0, "size": None,
        "virtual_size": None, "checksum": None, "os_hash_algo": None, "os_hash_value": None,
        "owner": "5ef70662f8b34079a6eddb8da9d75fe8", "created_at": "2020-12-18T05:20:30Z",
        "updated_at": "2020-12-18T05:20:38Z", "self": "/v2/images/dddd",
        "file": "/v2/images/dddd/file", "schema": "/v2/schemas/image",
    }  # fmt: skip
    listed = {"images": [image], "first": "/v2/images", "schema": "/v2/schemas/images"}
    answers = {
        "/v2/images/dddd/tasks": (200, JSON, json.dumps({"tasks": [task]}).encode()),
        "/v2/images/dddd": (200, JSON, json.dumps(image).encode()),
        # Any other /v2/images/{id} is a 404, so "cirros" is looked up in the listing.
        "/v2/images": (200, JSON, json.dumps(listed).encode()),
    }
    with canned(answers) as url, connect(endpoint=url, environ={}) as client:
        (found,) = client.tasks.for_image("dddd")
        assert (found.id, found.status, found.message) == (
            "ee22890e",
            "processing",
            "Copied 15 MiB",
        )
        assert found.raw == task
        for reference in ("dddd", "cirros"):
            done = glimpse("image", "tasks", reference, "-f", "json", env={"OS_IMAGE_URL": url})
            assert json.loads(done.stdout) == [
                {k: task[k] for k in ("id", "type", "status", "message", "updated_at")}
            ], (reference, done.stderr)
