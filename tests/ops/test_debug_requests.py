"""``[server] debug_requests``: each request's method, path and headers, and its response
status, with every credential redacted."""

from __future__ import annotations

import httpx
import pytest
from ops_support import Launch, wait_for_lines

SECRETS = {
    "X-Auth-Token": "gAAAAA-token-secret",
    "Authorization": "Basic dXNlcjpodW50ZXIy",
    "X-Subject-Token": "subject-secret",
    "X-Service-Token": "service-secret",
    "X-Auth-Password": "hunter2",
}


def test_requests_are_logged_with_credentials_redacted(
    launch: Launch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    log = tmp_path_factory.mktemp("debug") / "glimpse.log"
    server = launch(
        GLIMPSE_SERVER__DEBUG_REQUESTS="true",
        GLIMPSE_LOGGING__FORMAT="json",
        GLIMPSE_LOGGING__DESTINATION=str(log),
    )
    response = httpx.get(
        f"{server.url}/v2/images?limit=1&password=pw-secret",
        headers={**SECRETS, "X-Visible": "shown"},
        timeout=30,
    )
    assert response.status_code == 200
    request_id = response.headers["x-openstack-request-id"]

    def debug(lines: list[dict[str, object]]) -> list[str]:
        return [
            str(line["message"])
            for line in lines
            if line["logger"] == "glimpse.requests" and line["request_id"] == request_id
        ]

    lines = wait_for_lines(log, lambda found: len(debug(found)) == 2)
    request, answer = debug(lines)
    assert request.startswith("request: GET /v2/images?limit=1&password=*** headers ")
    assert "'x-visible': 'shown'" in request
    for name in SECRETS:
        assert f"'{name.lower()}': '***'" in request
    assert answer.startswith("response: 200 headers ")
    text = log.read_text()
    for secret in [*SECRETS.values(), "pw-secret"]:
        assert secret not in text
