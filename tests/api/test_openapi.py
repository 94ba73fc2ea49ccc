"""``GET /openapi.json``: a valid OpenAPI 3.1 document of every route, and schemathesis
run against a live server with it: no server errors, and every response as described."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.responses import Response
from starlette.routing import Route

from glimpse.api import openapi, picture_openapi, pictures
from glimpse.api.patch import MEDIA_V20, MEDIA_V21
from glimpse.api.routes import PUBLIC_PATHS, ROUTES
from glimpse.testing import ServerProcess

# The patch media types are JSON under names of their own.
schemathesis.serializer.alias([MEDIA_V21, MEDIA_V20], "application/json")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Requests per operation; with derandomize, the same ones each run (well under a minute).
EXAMPLES = 25
HYPOTHESIS = settings(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


#: The routes and operations the server serves with its default settings (pictures on).
SERVED = [*ROUTES, *pictures.routes("/pictures")]


def served() -> dict[str, Any]:
    return openapi.document(SERVED, picture_openapi.operations("/pictures"))


def test_document_is_valid_openapi_3_1() -> None:
    doc = served()
    assert doc["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(copy.deepcopy(doc)).validate()
    for found in _schemas(doc):
        jsonschema_rs.meta.validate(found)  # JSON Schema 2020-12, OpenAPI 3.1's dialect


def test_every_reference_resolves() -> None:
    doc = served()
    for ref in _values(doc, "$ref"):
        assert ref.startswith("#/components/")
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in doc["components"][section], ref


def test_every_route_and_method_is_described() -> None:
    paths = served()["paths"]
    for route in SERVED:
        assert isinstance(route, Route)
        assert {m.lower() for m in route.methods or ()} == set(paths[route.path_format])


def test_an_undescribed_route_fails_the_document() -> None:
    async def handler(_request: object) -> Response:
        return Response()

    with pytest.raises(LookupError, match=r"GET /v2/new is not described"):
        openapi.document([*ROUTES, Route("/v2/new", handler, methods=["GET"])])
    with pytest.raises(LookupError, match=r"no one serves: \[\('GET', '/versions'\)\]"):
        openapi.document([r for r in ROUTES if getattr(r, "path", "") != "/versions"])


def test_public_operations_are_the_public_paths() -> None:
    public = {path for (_method, path), op in openapi.OPERATIONS.items() if op.public}
    assert public == PUBLIC_PATHS


# -- the live server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own: schemathesis creates and changes many images."""
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("openapi"), env={"GLIMPSE_IDENTITY__MODE": "none"}
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(described: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(f"{described.url}/openapi.json")


def test_served_document_is_the_built_one(described: ServerProcess) -> None:
    response = httpx.get(f"{described.url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == served()


#: Every operation of the document, as (method, path): pytest ids of the run below.
OPERATIONS = [(method.upper(), path) for path, item in served()["paths"].items() for method in item]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_as_described(api_schema: Any, method: str, path: str) -> None:
    """Valid and invalid requests alike: never a 5xx, and every answer as described."""
    operation = api_schema[path][method]
    strategy = st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode))

    @given(case=strategy)
    @settings(HYPOTHESIS, max_examples=EXAMPLES)
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_workflows_answer_as_described(api_schema: Any) -> None:
    """Sequences of calls along the links (create an image, then upload, tag, share...).

    The pictures have no links, and ids clients choose: a scenario replayed would meet
    the picture its first run stored (409), so they are left to the run above. So are
    imports, stages and tasks: they start work in the background that changes the
    image after the call, so a scenario replayed would meet other answers."""
    linked = api_schema.exclude(path_regex="^/pictures/").exclude(
        path_regex=r"^/v2/(images/\{image_id\}/(stage|import|tasks)|tasks)"
    )

    class Workflow(linked.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # The server chooses the ids of new images here: a generated id may be one an
            # earlier scenario created (409), and a scenario must replay the same way.
            if case.method == "POST" and case.path == "/v2/images" and isinstance(case.body, dict):
                case.body.pop("id", None)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(
                response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
            )

    Workflow.run(settings=settings(HYPOTHESIS, max_examples=15, stateful_step_count=8))


# -- what schemathesis found ------------------------------------------------------------------
# PostgreSQL text cannot hold U+0000: each of these was a 500 there (SQLite stored it).


@pytest.mark.parametrize(
    "path",
    ["/v2/images/a%00b", "/v2/images/a%00b/members/p", "/v2/schemas/image%00"],
)
def test_a_nul_in_the_path_is_not_found(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize("query", ["name=a%00b", "owner=%00", "tag=%00", "marker=%00", "x%00=1"])
def test_a_nul_in_the_list_query_is_refused(api: httpx.Client, query: str) -> None:
    response = api.get(f"/v2/images?{query}")
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body", ['{"name": "a\\u0000"}', '{"a\\u0000": "b"}', '{"tags": ["\\u0000"]}']
)
def test_a_nul_in_a_json_body_is_refused(api: httpx.Client, body: str) -> None:
    response = api.post("/v2/images", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]


def test_an_escaped_backslash_before_u0000_is_no_nul(api: httpx.Client) -> None:
    body = r'{"name": "a\\u0000"}'  # an escaped backslash, then the letters u0000
    response = api.post("/v2/images", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    assert response.json()["name"] == "a\\u0000"
    assert api.delete(f"/v2/images/{response.json()['id']}").status_code == 204


# -- helpers -----------------------------------------------------------------------------------


def _values(node: Any, key: str) -> Iterator[Any]:
    """Every value of ``key`` anywhere in ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from _values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)


def _schemas(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The JSON schemas of the document: components, parameters, bodies and responses."""
    yield from doc["components"]["schemas"].values()
    yield from _values(doc["paths"], "schema")
