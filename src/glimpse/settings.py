"""Settings: frozen dataclasses loaded from one TOML file plus ``GLIMPSE_*`` overrides.

Environment overrides name a key by its path joined with double underscores,
``GLIMPSE_SERVER__PORT=9393`` or ``GLIMPSE_STORES__FILE__DIRECTORY=/srv/images``,
and are parsed as TOML values when they parse (``8``, ``true``), else as strings.
Unknown keys and wrong types stop start-up with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glimpse.errors import ConfigError

GIB = 1 << 30
TIB = 1 << 40
ENV_PREFIX = "GLIMPSE_"
#: Names the settings file; the one GLIMPSE_ variable that is not a setting.
CONFIG_ENV = "GLIMPSE_CONFIG"


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class ServerSettings:
    host: str = field(default="127.0.0.1", metadata=_help("Address to listen on."))
    port: int = field(default=9292, metadata=_help("TCP port to listen on."))
    workers: int = field(default=1, metadata=_help("Worker processes serving requests."))
    backlog: int = field(default=1024, metadata=_help("Listen backlog of the socket."))
    keepalive_timeout: int = field(
        default=30, metadata=_help("Seconds an idle keep-alive connection stays open.")
    )
    tls_cert: str = field(default="", metadata=_help("PEM certificate file; enables TLS."))
    tls_key: str = field(default="", metadata=_help("PEM private key file for tls_cert."))
    public_endpoint: str = field(
        default="",
        metadata=_help("Base URL advertised in version documents; default: the request's host."),
    )


@dataclass(frozen=True)
class RegistrySettings:
    url: str = field(
        default="",
        metadata=_help(
            "SQLAlchemy URL of the registry database, e.g. postgresql://u@h/db; "
            "empty means SQLite at <data_dir>/glimpse.db."
        ),
    )
    pool_size: int = field(default=5, metadata=_help("Connections kept open per worker."))


@dataclass(frozen=True)
class ImageSettings:
    size_cap: int = field(
        default=TIB, metadata=_help("Largest image, in bytes; enforced while data streams.")
    )
    hash_algo: str = field(
        default="sha512", metadata=_help("hashlib algorithm for os_hash_value (multihash).")
    )
    limit_default: int = field(default=25, metadata=_help("Page size when a list has no limit."))
    limit_max: int = field(default=1000, metadata=_help("Largest page size a list may ask for."))
    property_quota: int = field(default=128, metadata=_help("Extra properties allowed per image."))
    tag_quota: int = field(default=128, metadata=_help("Tags allowed per image."))
    member_quota: int = field(default=128, metadata=_help("Members allowed per image."))
    json_body_limit: int = field(
        default=1 << 20, metadata=_help("Largest JSON request body, in bytes.")
    )
    import_methods: tuple[str, ...] = field(
        default=("glance-direct", "web-download", "copy-image"),
        metadata=_help("Import methods advertised on image creation."),
    )


@dataclass(frozen=True)
class IdentitySettings:
    mode: str = field(
        default="none",
        metadata=_help(
            "How callers are identified: 'none' (everyone is an admin of [identity.none] "
            "project), 'tokens' (glimpse token ...), 'keystone' ([identity.keystone]), or "
            "'trusted-headers' (X-Identity-Status, X-Project-Id, X-Roles are believed: only "
            "behind an authenticating proxy that sets them)."
        ),
    )
    drivers: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict,
        metadata=_help(
            'Per-mode option tables: [identity.none] project = "glimpse"; '
            "[identity.keystone] auth_url, username, password, project_name, "
            "user_domain_name, project_domain_name, cache_seconds, www_authenticate_uri."
        ),
    )


@dataclass(frozen=True)
class PolicySettings:
    file: str = field(
        default="",
        metadata=_help(
            "Policy overrides in oslo.policy's YAML or JSON format (Glance's rule names); "
            "empty means Glance's secure-RBAC defaults."
        ),
    )
    property_protections_file: str = field(
        default="",
        metadata=_help(
            "Glance-style property protections (INI: regex sections with create, read, "
            "update, delete role lists); empty means none."
        ),
    )


@dataclass(frozen=True)
class QuotaSettings:
    image_count_total: int = field(
        default=-1, metadata=_help("Images a project may have; -1 for no limit.")
    )
    image_size_total: int = field(
        default=-1, metadata=_help("MiB of image data a project may store; -1 for no limit.")
    )
    image_stage_total: int = field(
        default=-1, metadata=_help("MiB a project may have staged for import; -1 for no limit.")
    )
    image_count_uploading: int = field(
        default=-1, metadata=_help("Uploads a project may run at once; -1 for no limit.")
    )
    projects: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict,
        metadata=_help(
            "Per-project overrides of the limits above: [quotas.projects.<project id>]."
        ),
    )


@dataclass(frozen=True)
class StoreSettings:
    default: str = field(default="file", metadata=_help("Store driver for uploaded image data."))
    drivers: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict,
        metadata=_help(
            "Per-driver option tables, e.g. [stores.file] directory = ...; "
            "the file store defaults to <data_dir>/images."
        ),
    )


@dataclass(frozen=True)
class Settings:
    data_dir: str = field(
        default="./data",
        metadata=_help("Directory for the embedded SQLite registry and the file store."),
    )
    server: ServerSettings = field(default_factory=ServerSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    stores: StoreSettings = field(default_factory=StoreSettings)

    @property
    def registry_url(self) -> str:
        """The registry URL, defaulting to SQLite inside the data directory."""
        if self.registry.url:
            return self.registry.url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'glimpse.db'}"

    def quota_defaults(self) -> dict[str, int]:
        """The default limits of every project, by name."""
        return {
            f.name: getattr(self.quotas, f.name)
            for f in dataclasses.fields(self.quotas)
            if f.name != "projects"
        }

    def store_options(self, name: str) -> Mapping[str, Any]:
        """The raw option table of one store driver, with embedded defaults filled in."""
        options = dict(self.stores.drivers.get(name, {}))
        if name == "file":
            options.setdefault("directory", str(Path(self.data_dir).resolve() / "images"))
        return options


def load(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Settings:
    """Read settings from a TOML file (optional) and ``GLIMPSE_*`` variables."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as file:
                raw = tomllib.load(file)
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from None
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and name != CONFIG_ENV:
            keys = name[len(ENV_PREFIX) :].lower().split("__")
            _set_path(raw, keys, _parse_env_value(value))
    for table, scalar in (("stores", "default"), ("identity", "mode")):
        section = raw.get(table)
        if isinstance(section, dict):
            # Driver tables sit beside the choice in the file ([stores.file],
            # [identity.keystone]) and are kept apart in `drivers`.
            section["drivers"] = {k: section.pop(k) for k in list(section) if k != scalar}
    settings: Settings = _build(Settings, raw, "")
    return settings


def _parse_env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(raw: dict[str, Any], keys: list[str], value: Any) -> None:
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"setting {'.'.join(keys)} conflicts with a non-table value")
    node[keys[-1]] = value


def _build(cls: type[Any], raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"setting {prefix.rstrip('.')} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown setting {prefix}{key}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        values[name] = _convert(hints[name], value, f"{prefix}{name}")
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"setting {key} must be a list of strings")
        return tuple(value)
    if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"setting {key} must be a table of tables")
        return types.MappingProxyType({k: dict(v) for k, v in value.items()})
    expected = {int: int, str: str, bool: bool}[hint]
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"setting {key} must be an integer, not {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"setting {key} must be a {expected.__name__}, not {value!r}")
    return value


def sample() -> str:
    """The sample settings file: every key with its default and help text."""
    lines = ["# Glimpse settings. Every key is optional; shown with its default.", ""]
    _sample_table(Settings, "", lines)
    return "\n".join(lines).rstrip() + "\n"


def _sample_table(cls: type[Any], prefix: str, lines: list[str]) -> None:
    nested: list[tuple[str, type[Any]]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested.append((f.name, hint))
            continue
        lines.append(f"# {f.metadata['help']}")
        if f.default is not dataclasses.MISSING:
            lines.append(f"# {f.name} = {_toml_value(f.default)}")
        else:
            lines.append(f"# [{prefix}<driver>]")
        lines.append("")
    for name, sub in nested:
        lines.append(f"[{prefix}{name}]")
        _sample_table(sub, f"{prefix}{name}.", lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
