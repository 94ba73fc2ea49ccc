"""How requests are authenticated: a fixed token, none, or a Keystone session.

Glimpse API tokens (identity mode ``tokens``) and Keystone tokens both travel as
``X-Auth-Token``. A Keystone session (keystoneauth1) fetches its token when first
asked, and a fresh one after a 401 when the request can be sent again (a streamed
upload cannot be replayed, so it fails with the 401 instead).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import httpx

from glimpse.client.errors import ConfigurationError, ConnectionFailed, error_class, phrase

if TYPE_CHECKING:
    from keystoneauth1.session import Session

TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 - a header name


class TokenAuth(httpx.Auth):
    """Send one token, unchanged, on every request."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[TOKEN_HEADER] = self.token
        yield request


class KeystoneAuth(httpx.Auth):
    """Send the token of a keystoneauth1 session; renew it once on a 401."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def token(self) -> str:
        with keystone_errors():
            token = self.session.get_token()
        if not token:
            raise ConfigurationError("Keystone gave no token for these credentials")
        return str(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[TOKEN_HEADER] = self.token()
        response = yield request
        if response.status_code == 401 and isinstance(request.stream, httpx.ByteStream):
            self.session.invalidate()
            request.headers[TOKEN_HEADER] = self.token()
            yield request


@contextlib.contextmanager
def keystone_errors() -> Iterator[None]:
    """Turn keystoneauth1's exceptions into the client's own, at this boundary only."""
    from keystoneauth1 import exceptions as ksa

    try:
        yield
    except ksa.HttpError as exc:
        status = int(exc.http_status or 500)
        message = f"Keystone: {exc.message}"
        raise error_class(status)(status, phrase(status), message, exc.request_id) from None
    except ksa.ConnectionError as exc:
        raise ConnectionFailed(f"cannot reach Keystone: {exc}") from None
    except ksa.EndpointNotFound as exc:
        raise ConfigurationError(f"no image endpoint in the Keystone catalog: {exc}") from None
    except ksa.ClientException as exc:
        raise ConfigurationError(f"Keystone: {exc}") from None
