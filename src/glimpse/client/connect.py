"""Where the Image API is and how to authenticate, from options, ``clouds.yaml`` or ``OS_*``.

Precedence: an explicit option wins; then the cloud named by ``cloud`` (or
``OS_CLOUD``), read from ``clouds.yaml`` by openstacksdk's loader (the file named
by ``OS_CLIENT_CONFIG_FILE`` first, then the usual places); only when no cloud is
named, the ``OS_*`` variables. The result is one of:

- ``auth_type = none``, or an endpoint with neither a token nor a Keystone URL:
  no credentials (identity mode ``none``);
- an endpoint and a token: the token as ``X-Auth-Token`` (a Glimpse API token, or a
  Keystone token used as is);
- a Keystone URL: a keystoneauth1 session (password, or a token to rescope), the
  endpoint from the catalog (``interface``, ``region_name``) unless one is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from glimpse.client.auth import KeystoneAuth, TokenAuth, keystone_errors
from glimpse.client.errors import ConfigurationError

#: The ``OS_*`` variable each option is read from, as the OpenStack clients name them.
ENVIRONMENT = {
    "endpoint": ("OS_IMAGE_URL", "OS_ENDPOINT"),
    "token": ("OS_AUTH_TOKEN", "OS_TOKEN"),
    "auth_type": ("OS_AUTH_TYPE",),
    "auth_url": ("OS_AUTH_URL",),
    "username": ("OS_USERNAME",),
    "user_id": ("OS_USER_ID",),
    "password": ("OS_PASSWORD",),
    "project_name": ("OS_PROJECT_NAME", "OS_TENANT_NAME"),
    "project_id": ("OS_PROJECT_ID", "OS_TENANT_ID"),
    "user_domain_name": ("OS_USER_DOMAIN_NAME",),
    "user_domain_id": ("OS_USER_DOMAIN_ID",),
    "project_domain_name": ("OS_PROJECT_DOMAIN_NAME",),
    "project_domain_id": ("OS_PROJECT_DOMAIN_ID",),
    "region_name": ("OS_REGION_NAME",),
    "interface": ("OS_INTERFACE", "OS_ENDPOINT_TYPE"),
    "cacert": ("OS_CACERT",),
}
#: Options that are credentials of the Keystone password or token plugins.
_AUTH_KEYS = (
    "auth_url",
    "username",
    "user_id",
    "password",
    "project_name",
    "project_id",
    "user_domain_name",
    "user_domain_id",
    "project_domain_name",
    "project_domain_id",
)
_NO_AUTH = ("none", "noauth")
_TOKEN_TYPES = ("admin_token", "token_endpoint")


@dataclass(frozen=True)
class Options:
    """Everything a caller can say about the connection; None means "not given"."""

    endpoint: str | None = None
    token: str | None = None
    cloud: str | None = None
    auth_type: str | None = None
    auth_url: str | None = None
    username: str | None = None
    user_id: str | None = None
    password: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    region_name: str | None = None
    interface: str | None = None
    cacert: str | None = None
    insecure: bool | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "")}


@dataclass(frozen=True)
class Connection:
    """The resolved connection: the Image API's root URL, the auth, TLS verification."""

    endpoint: str
    auth: httpx.Auth | None
    verify: bool | str


def root_of(url: str) -> str:
    """The endpoint root: a trailing ``/v2`` (and slashes) dropped, as glanceclient does."""
    root = url.strip().rstrip("/")
    for suffix in ("/v2", "/v2.0", "/v2.1"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    return root.rstrip("/")


def from_environment(environ: Mapping[str, str]) -> Options:
    """The options the ``OS_*`` variables give."""
    found: dict[str, Any] = {}
    for name, variables in ENVIRONMENT.items():
        for variable in variables:
            if environ.get(variable):
                found[name] = environ[variable]
                break
    insecure = environ.get("OS_INSECURE", "").lower()
    if insecure in ("1", "true", "yes"):
        found["insecure"] = True
    return Options(**found)


def resolve(options: Options, environ: Mapping[str, str]) -> Connection:
    """Turn options (explicit ones in ``options``) into a Connection.

    Raises:
        ConfigurationError: no endpoint can be found, the credentials are incomplete,
            or a cloud is named and openstacksdk is not installed.
        ConnectionFailed, Unauthorized: Keystone could not be reached or refused them.
    """
    cloud = options.cloud or environ.get("OS_CLOUD") or None
    if cloud:
        return _from_cloud(cloud, options, environ)
    merged = Options(**{**from_environment(environ).given(), **options.given()})
    return _from_options(merged)


def _verify(options: Options) -> bool | str:
    if options.insecure:
        return False
    return options.cacert or True


def _from_options(options: Options) -> Connection:
    verify = _verify(options)
    auth_type = (options.auth_type or "").lower()
    endpoint = root_of(options.endpoint) if options.endpoint else None
    if auth_type in _NO_AUTH:
        if endpoint is None:
            raise ConfigurationError("auth type 'none' needs an endpoint (--os-image-url)")
        return Connection(endpoint, None, verify)
    if endpoint is not None and options.token:
        return Connection(endpoint, TokenAuth(options.token), verify)
    if options.auth_url:
        session = _session(options, verify)
        return Connection(endpoint or _catalog(session, options), KeystoneAuth(session), verify)
    if endpoint is not None:
        return Connection(endpoint, None, verify)
    if options.token:
        raise ConfigurationError(
            "a token alone does not say where the Image API is: give --os-image-url "
            "(OS_IMAGE_URL) too, or --os-auth-url to find it in the Keystone catalog"
        )
    raise ConfigurationError(
        "no image endpoint: give --os-image-url (OS_IMAGE_URL), --os-cloud (OS_CLOUD) or "
        "Keystone credentials (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME)"
    )


def _session(options: Options, verify: bool | str) -> Any:
    """A keystoneauth1 session with the v3 password plugin, or the token plugin."""
    from keystoneauth1 import session as ksa_session
    from keystoneauth1.identity import v3

    scope: dict[str, Any] = {
        "project_name": options.project_name,
        "project_id": options.project_id,
    }
    if options.project_name and not options.project_id:
        if options.project_domain_name:
            scope["project_domain_name"] = options.project_domain_name
        else:
            scope["project_domain_id"] = options.project_domain_id or "default"
    plugin: Any
    auth_url = str(options.auth_url)
    if options.password and (options.username or options.user_id):
        user: dict[str, Any] = {"username": options.username, "user_id": options.user_id}
        if options.username and not options.user_id:
            if options.user_domain_name:
                user["user_domain_name"] = options.user_domain_name
            else:
                user["user_domain_id"] = options.user_domain_id or "default"
        plugin = v3.Password(auth_url=auth_url, password=options.password, **user, **scope)
    elif options.token:
        plugin = v3.Token(auth_url=auth_url, token=options.token, **scope)
    else:
        raise ConfigurationError(
            "Keystone credentials need a password with a username or user id "
            "(OS_USERNAME, OS_PASSWORD), or a token (OS_AUTH_TOKEN)"
        )
    return ksa_session.Session(auth=plugin, verify=verify)


def _catalog(session: Any, options: Options) -> str:
    with keystone_errors():
        url = session.get_endpoint(
            service_type="image",
            interface=options.interface or "public",
            region_name=options.region_name,
        )
    if not url:
        where = f" in region {options.region_name}" if options.region_name else ""
        raise ConfigurationError(
            f"the Keystone catalog has no {options.interface or 'public'} image endpoint{where}"
        )
    return root_of(str(url))


def _from_cloud(cloud: str, options: Options, environ: Mapping[str, str]) -> Connection:
    """A Connection for a ``clouds.yaml`` cloud, explicit options laid over it."""
    try:
        from openstack.config import loader
    except ImportError:
        raise ConfigurationError(
            f"--os-cloud {cloud!r} reads clouds.yaml with openstacksdk, which is not installed: "
            "pip install openstacksdk (or give --os-image-url and --os-auth-token)"
        ) from None
    config_files = list(loader.CONFIG_FILES)
    if environ.get("OS_CLIENT_CONFIG_FILE"):
        config_files.insert(0, environ["OS_CLIENT_CONFIG_FILE"])
    given = options.given()
    # Credentials go into the cloud's ``auth`` (where openstacksdk lets them win over the
    # file's); the catalog choices and the auth type stay at the top.
    overrides: dict[str, Any] = {
        k: given[k] for k in ("auth_type", "region_name", "interface") if k in given
    }
    credentials = {k: given[k] for k in _AUTH_KEYS if k in given}
    if credentials:
        overrides["auth"] = credentials
    try:
        config = loader.OpenStackConfig(config_files=config_files, load_envvars=False)
        region = config.get_one(cloud=cloud, validate=False, **overrides)
    except Exception as exc:  # openstacksdk raises its own and keystoneauth1's types
        raise ConfigurationError(f"cloud {cloud!r}: {exc}") from None
    values: dict[str, Any] = region.config
    auth = dict(values.get("auth") or {})
    flat: dict[str, Any] = {k: auth[k] for k in (*_AUTH_KEYS, "token") if auth.get(k)}
    flat["auth_type"] = values.get("auth_type")
    flat["endpoint"] = region.get_endpoint("image") or auth.get("endpoint")
    flat["region_name"] = values.get("region_name") or None
    flat["interface"] = values.get("interface") or None
    flat["cacert"] = values.get("cacert") or None
    flat["insecure"] = bool(values.get("insecure")) or values.get("verify") is False
    merged = Options(**{**{k: v for k, v in flat.items() if v is not None}, **options.given()})
    merged = dataclasses.replace(merged, cloud=None)
    auth_type = (merged.auth_type or "password").lower()
    if auth_type in _NO_AUTH or auth_type in _TOKEN_TYPES or merged.token:
        return _from_options(dataclasses.replace(merged, auth_type=auth_type))
    if not merged.auth_url:
        return _from_options(merged)
    # Any other plugin (application credentials, OIDC...) is openstacksdk's to build; the
    # session asks Keystone nothing until a token or the catalog is wanted.
    try:
        session = config.get_one(cloud=cloud, **overrides).get_session()
    except Exception as exc:  # openstacksdk's and keystoneauth1's own types
        raise ConfigurationError(f"cloud {cloud!r}: {exc}") from None
    verify = _verify(merged)
    session.verify = verify
    endpoint = root_of(merged.endpoint) if merged.endpoint else _catalog(session, merged)
    return Connection(endpoint, KeystoneAuth(session), verify)
