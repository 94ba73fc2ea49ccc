"""Random identity headers in trusted-headers mode: repeated, empty, in odd casing.

Whatever a client sends, the answer is never a 5xx, and a caller whose headers name
no role above ``reader`` never gains one: it cannot create an image (members may),
let alone a public one (admins may). Seeded, so a failure reproduces.
"""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from glimpse.testing import ServerProcess

NAMES = [
    "X-Identity-Status",
    "X-Project-Id",
    "X-Tenant-Id",
    "X-User-Id",
    "X-Roles",
    "OpenStack-System-Scope",
]
READER_ONLY = st.sampled_from(["reader", "READER", "reader ,reader", "reader,reader", "", ",", "x"])
VALUES = {
    "X-Identity-Status": st.sampled_from(["Confirmed", "confirmed", "Invalid", ""]),
    "X-Roles": READER_ONLY,
    "OpenStack-System-Scope": st.sampled_from(["", "all"]),
}
OTHER_VALUES = st.sampled_from(["p", "q", "", "p q", "P"])


@st.composite
def identity_headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    headers = [("X-Identity-Status", "Confirmed"), ("X-Project-Id", "p"), ("X-Roles", "reader")]
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.sampled_from(NAMES))
        casing = draw(st.sampled_from([str.lower, str.upper, str.title, lambda s: s]))
        value = draw(VALUES.get(name, OTHER_VALUES))
        headers.append((casing(name), value))
    return draw(st.permutations(headers))


@seed(20261221)
@settings(
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(headers=identity_headers())
def test_no_header_trick_gains_a_role(
    trusted_server: ServerProcess, headers: list[tuple[str, str]]
) -> None:
    with httpx.Client(base_url=trusted_server.url, timeout=30) as api:
        listed = api.get("/v2/images", headers=headers)
        assert listed.status_code in (200, 401, 403), listed.text
        created = api.post(
            "/v2/images",
            json={"name": "h", "visibility": "public"},
            headers=headers,
        )
        assert created.status_code in (401, 403), created.text
        private = api.post("/v2/images", json={"name": "h"}, headers=headers)
        assert private.status_code in (401, 403), private.text
