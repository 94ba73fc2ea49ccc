"""Tokens validated against an OpenStack Identity v3 service (Keystone).

Works as keystonemiddleware's ``auth_token`` does for Glance: Glimpse holds a
service user's credentials, and validates each caller's ``X-Auth-Token`` with
``GET /v3/auth/tokens`` (``X-Subject-Token``), through keystoneauth1, which
also keeps the service user's own token fresh. The caller's project, user,
roles (Keystone includes implied roles in the token) and system scope come
from the validated token. Valid tokens are cached for ``cache_seconds``, or
until they expire if that is sooner, so a revoked token may keep working that
long (keystonemiddleware's ``token_cache_time`` has the same trade-off).
Refused tokens are cached for ``refusal_cache_seconds``, so random tokens do
not cost a Keystone call each. A 401 carries ``WWW-Authenticate: Keystone
uri="..."`` so clients know where to authenticate.

keystoneauth1 is imported when this driver is built, so other modes never pay for it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from cachetools import TTLCache

from glimpse.auth.identity import Actor, IdentityContext, RequestHeaders
from glimpse.auth.tokens import presented_token
from glimpse.errors import ConfigError, Unauthenticated, Unavailable
from glimpse.options import option

log = logging.getLogger(__name__)
_INVALID = "The token is not valid"
#: What a client is told when Keystone fails; what failed goes to the log only, as
#: Keystone's address and the transport's errors are the deployment's business.
_UNAVAILABLE = "The identity service is unavailable"


class KeystoneIdentity:
    """Callers present Keystone tokens; a service user validates them."""

    blocking: ClassVar[bool] = True

    @dataclass(frozen=True)
    class Options:
        auth_url: str = option("", "Keystone's Identity v3 URL, e.g. http://keystone:5000/v3.")
        username: str = option("", "Service user that validates callers' tokens.")
        password: str = option("", "The service user's password.")
        project_name: str = option("service", "Project the service user is scoped to.")
        user_domain_name: str = option("Default", "Domain of the service user.")
        project_domain_name: str = option("Default", "Domain of the service user's project.")
        cache_seconds: int = option(
            300, "Seconds a validated token is believed without asking again.", minimum=0
        )
        cache_size: int = option(10000, "Validated tokens kept in the cache.", minimum=1)
        refusal_cache_seconds: int = option(
            10,
            "Seconds a token Keystone refused is refused again without asking it, so a "
            "client repeating a bad token does not make Glimpse call Keystone each time.",
            minimum=0,
        )
        timeout: int = option(10, "Seconds to wait for Keystone.", minimum=1)
        www_authenticate_uri: str = option(
            "", "Keystone URL sent to clients in 401 challenges; default: auth_url's root."
        )
        cafile: str = option("", "CA bundle to verify Keystone's certificate; empty: system CAs.")

    def __init__(self, options: Options, context: IdentityContext) -> None:
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        missing = [
            name for name in ("auth_url", "username", "password") if not getattr(options, name)
        ]
        if missing:
            raise ConfigError(f"identity.keystone needs {', '.join(missing)}")
        base = options.auth_url.rstrip("/")
        self._validate_url = (base if base.endswith("/v3") else base + "/v3") + "/auth/tokens"
        public = options.www_authenticate_uri or base.removesuffix("/v3")
        self._challenge = f'Keystone uri="{public}"'
        auth = v3.Password(
            auth_url=options.auth_url,
            username=options.username,
            password=options.password,
            project_name=options.project_name,
            user_domain_name=options.user_domain_name,
            project_domain_name=options.project_domain_name,
        )
        self._session = session.Session(
            auth=auth, timeout=options.timeout, verify=options.cafile or True
        )
        self._cache: TTLCache[str, tuple[Actor, datetime | None]] = TTLCache(
            maxsize=options.cache_size, ttl=options.cache_seconds
        )
        self._refused: TTLCache[str, bool] = TTLCache(
            maxsize=options.cache_size, ttl=max(options.refusal_cache_seconds, 1e-3)
        )
        self._lock = threading.Lock()

    def identify(self, headers: RequestHeaders) -> Actor:
        token = presented_token(headers)
        if token is None:
            raise Unauthenticated("Authentication required", self._challenge)
        key = hashlib.sha256(token.encode()).hexdigest()
        now = datetime.now(UTC)
        with self._lock:
            cached = self._cache.get(key)
            refused = key in self._refused
        if refused:
            raise Unauthenticated(_INVALID, self._challenge)
        if cached is not None and (cached[1] is None or cached[1] > now):
            found: Actor = cached[0]
            return found
        try:
            actor, expires = self._validate(token)
        except Unauthenticated:
            with self._lock:
                self._refused[key] = True
            raise
        with self._lock:
            self._cache[key] = (actor, expires)
        return actor

    def _validate(self, token: str) -> tuple[Actor, datetime | None]:
        from keystoneauth1 import access
        from keystoneauth1 import exceptions as ks_exc

        try:
            response = self._session.get(
                self._validate_url,
                headers={"X-Subject-Token": token},
                authenticated=True,
                raise_exc=False,
            )
        except ks_exc.Unauthorized:
            log.error("Keystone refused Glimpse's service credentials")
            raise Unavailable(_UNAVAILABLE) from None
        except ks_exc.ClientException as exc:
            log.error("Keystone cannot be reached at %s: %s", self._validate_url, exc)
            raise Unavailable(_UNAVAILABLE) from None
        if response.status_code == 404:  # Keystone's answer for an invalid subject token
            raise Unauthenticated(_INVALID, self._challenge)
        if response.status_code == 401:  # our own token, even after keystoneauth re-authenticated
            log.error("Keystone refused Glimpse's service credentials")
            raise Unavailable(_UNAVAILABLE)
        if response.status_code != 200:
            log.error("Keystone answered %d to a token validation", response.status_code)
            raise Unavailable(_UNAVAILABLE)
        info: Any = access.create(resp=response, body=response.json(), auth_token=token)
        system = info.system if info.system_scoped else None
        scope = None if system is None else ("all" if system.get("all") else str(system))
        actor = Actor(
            project=None if scope else info.project_id,
            user=info.user_id,
            roles=frozenset(role.lower() for role in info.role_names),
            system_scope=scope,
            image_endpoints=_image_endpoints(info),
        )
        expires: datetime | None = info.expires
        return actor, expires


def _image_endpoints(info: Any) -> tuple[tuple[str, str, str], ...]:
    """The image service endpoints of a token's catalog, as (region, interface, url)."""
    if not info.has_service_catalog():
        return ()
    found = []
    for service in info.service_catalog.catalog:
        if service.get("type") != "image":
            continue
        for endpoint in service.get("endpoints", []):
            region = endpoint.get("region_id") or endpoint.get("region") or ""
            interface = endpoint.get("interface", "")
            url = endpoint.get("url", "")
            if url:
                found.append((str(region), str(interface), str(url)))
    return tuple(found)
