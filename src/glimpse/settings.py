"""Settings: frozen dataclasses loaded from one TOML file plus ``GLIMPSE_*`` overrides.

Environment overrides name a key by its path joined with double underscores,
``GLIMPSE_SERVER__PORT=9393`` or ``GLIMPSE_STORES__FILE__DIRECTORY=/srv/images``,
and are parsed as TOML values when they parse (``8``, ``true``), else as strings.
Unknown keys and wrong types stop start-up with a message naming the key.

Drivers (stores, identity modes) keep their options in tables of their own,
``[stores.<driver>]`` and ``[identity.<mode>]``, held here as raw tables and
built into each driver's ``Options`` by the composition root, through the same
builder (``glimpse.options``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glimpse import options, plugins
from glimpse.errors import ConfigError
from glimpse.options import option, tables

GIB = 1 << 30
TIB = 1 << 40
ENV_PREFIX = "GLIMPSE_"
#: Names the settings file; the one GLIMPSE_ variable that is not a setting.
CONFIG_ENV = "GLIMPSE_CONFIG"
#: Entry-point groups of drivers, by the settings table that chooses them.
DRIVER_GROUPS = {"stores": "glimpse.stores", "identity": "glimpse.identity"}


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity, as a container's cpuset limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity (macOS)
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerSettings:
    host: str = option("127.0.0.1", "Address to listen on (IPv4 or IPv6; '::' serves both).")
    port: int = option(9292, "TCP port to listen on (0: any free port).", minimum=0)
    # No value in the sample: the default depends on the machine.
    workers: int = field(
        default_factory=_cpu_count,
        metadata={
            "help": "Worker processes serving requests, at least 1; default: one per CPU, "
            "as Glance.",
            "minimum": 1,
        },
    )
    backlog: int = option(
        4096, "Connections the kernel queues while every worker is busy.", minimum=1
    )
    keepalive_timeout: int = option(
        30,
        "Seconds a connection may stay idle between requests, or take to send a request's headers.",
        minimum=1,
    )
    http_keepalive: bool = option(
        True, "Keep connections open between requests; off: Connection: close on every answer."
    )
    client_socket_timeout: int = option(
        900,
        "Seconds a client may send or read nothing before it is cut off (a slow but moving "
        "upload is not); 0: never.",
        minimum=0,
    )
    tcp_keepidle: int = option(
        600, "Seconds a connection is idle before TCP keep-alive probes start.", minimum=1
    )
    max_header_line: int = option(
        16384, "Longest request header line, in bytes; longer is 431.", minimum=1
    )
    max_header_size: int = option(
        65536, "Largest total of request headers, in bytes; more is 431.", minimum=1
    )
    shutdown_grace: int = option(
        30,
        "Seconds requests in flight may take to finish after SIGTERM or SIGINT, or when a "
        "reload replaces the workers.",
        minimum=0,
    )
    tls_cert: str = option("", "PEM certificate file (with its chain); enables TLS 1.2 and 1.3.")
    tls_key: str = option("", "PEM private key file for tls_cert, unencrypted.")
    tls_client_ca: str = option(
        "", "PEM file of the CA that signs client certificates; set: mutual TLS is required."
    )
    public_endpoint: str = option(
        "", "Base URL advertised in version documents; default: the request's host."
    )
    trusted_proxies: tuple[str, ...] = option(
        (),
        "Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For/-Proto/-Host "
        "and Forwarded headers are believed; from anyone else they are ignored.",
    )
    debug_requests: bool = option(
        False,
        "Log each request's method, path and headers (tokens and passwords redacted) and "
        "its response status.",
    )
    malloc_mmap_threshold: int = option(
        16 << 20,
        "Allocations from this size (bytes) up are mapped from the kernel one by one, smaller "
        "ones come from the heap (glibc only; 0 here and in malloc_trim_threshold: glibc's "
        "defaults).",
        minimum=0,
    )
    malloc_trim_threshold: int = option(
        64 << 20,
        "Free bytes each allocator arena keeps at the top of its heap before giving memory "
        "back to the kernel: renders reuse it instead of faulting it in again (glibc only; "
        "0: not set).",
        minimum=0,
    )


@dataclass(frozen=True)
class LoggingSettings:
    level: str = option("info", "Least severe level logged: debug, info, warning or error.")
    format: str = option("text", "text lines, or json (one object per line).")
    destination: str = option("", "File to log to; empty: standard error.")
    access_log: bool = option(True, "One line per request, with its request id.")


@dataclass(frozen=True)
class MetricsSettings:
    exposure: str = option(
        "admins",
        "Who may read GET /metrics (Prometheus text format): off, open (anyone), or admins.",
    )


@dataclass(frozen=True)
class HealthSettings:
    disable_file: str = option(
        "",
        "While this file exists, GET /healthcheck answers 503 so load balancers take the node out.",
    )
    detail_networks: tuple[str, ...] = option(
        (),
        "Networks (CIDR) that may read the detailed healthcheck without being admins.",
    )


@dataclass(frozen=True)
class RegistrySettings:
    url: str = option(
        "",
        "SQLAlchemy URL of the registry database, e.g. postgresql://u@h/db; "
        "empty means SQLite at <data_dir>/glimpse.db.",
    )
    pool_size: int = option(5, "Connections kept open per worker.", minimum=1)


@dataclass(frozen=True)
class ImageSettings:
    size_cap: int = option(TIB, "Largest image, in bytes; enforced while data streams.", minimum=0)
    hash_algo: str = option("sha512", "hashlib algorithm for os_hash_value (multihash).")
    limit_default: int = option(25, "Page size when a list has no limit.", minimum=1)
    limit_max: int = option(1000, "Largest page size a list may ask for.", minimum=1)
    property_quota: int = option(128, "Extra properties allowed per image.", minimum=0)
    tag_quota: int = option(128, "Tags allowed per image.", minimum=0)
    member_quota: int = option(128, "Members allowed per image.", minimum=0)
    location_quota: int = option(10, "Locations allowed per image.", minimum=1)
    json_body_limit: int = option(1 << 20, "Largest JSON request body, in bytes.", minimum=1)
    delayed_delete: bool = option(
        False,
        "Deleting an image with data moves it to pending_delete; the scrubber removes its "
        "bytes scrub_time seconds later (glimpse scrub --restore ID brings it back before).",
    )
    scrub_time: int = option(
        0, "Seconds a pending_delete image's bytes are kept before scrubbing.", minimum=0
    )
    do_secure_hash: bool = option(
        True,
        "Read registered objects in the background to compute their checksum and "
        "multihash (and check declared ones before the image becomes active).",
    )
    show_multiple_locations: bool = option(
        False,
        "Show the locations attribute and allow JSON-patch of /locations (Glance's legacy "
        "locations API); locations reveal store URLs, so only where callers may know them.",
    )
    show_image_direct_url: bool = option(
        False, "Show direct_url, the first location's URL, on images that have data."
    )
    require_image_format_match: bool = option(
        True,
        "Refuse uploaded data of a bare image that is not in its disk_format (raw takes any "
        "format, ami, ari, aki and ploop take data of no known format); off: a mismatch is "
        "let through, but data failing a safety check never is.",
    )
    vmdk_allowed_types: tuple[str, ...] = option(
        ("streamOptimized", "monolithicSparse"),
        "VMDK create-types uploaded data may have (compared without case); the others "
        "name extent files outside the image. Empty: no VMDK data is taken.",
    )
    gpt_safety_checks_nonfatal: tuple[str, ...] = option(
        (),
        "Safety checks whose failure does not refuse data seen as a GPT/MBR disk (the "
        "MBR partition table check is 'mbr'); their failures are only logged.",
    )


@dataclass(frozen=True)
class IdentitySettings:
    mode: str = option(
        "none",
        "How callers are identified: 'none' (everyone is an admin of [identity.none] "
        "project), 'tokens' (glimpse token ...), 'keystone' ([identity.keystone]), or "
        "'trusted-headers' (X-Identity-Status, X-Project-Id, X-Roles are believed: only "
        "behind an authenticating proxy that sets them).",
    )
    drivers: Mapping[str, Mapping[str, Any]] = tables(
        "Each mode's options sit in [identity.<mode>], listed below."
    )


@dataclass(frozen=True)
class PolicySettings:
    file: str = option(
        "",
        "Policy overrides in oslo.policy's YAML or JSON format (Glance's rule names); "
        "empty means Glance's secure-RBAC defaults.",
    )
    property_protections_file: str = option(
        "",
        "Glance-style property protections (INI: regex sections with create, read, "
        "update, delete role lists); empty means none.",
    )


@dataclass(frozen=True)
class QuotaLimitSettings:
    """The limits of one project; sizes in MiB, as Glance's unified limits count them."""

    image_count_total: int = option(-1, "Images a project may have; -1 for no limit.", minimum=-1)
    image_size_total: int = option(
        -1, "MiB of image data a project may store; -1 for no limit.", minimum=-1
    )
    image_stage_total: int = option(
        -1, "MiB a project may have staged for import; -1 for no limit.", minimum=-1
    )
    image_count_uploading: int = option(
        -1, "Uploads a project may run at once; -1 for no limit.", minimum=-1
    )


@dataclass(frozen=True)
class QuotaSettings(QuotaLimitSettings):
    projects: Mapping[str, Mapping[str, Any]] = tables(
        "Per-project overrides of the limits above, in [quotas.projects.<project id>]."
    )


@dataclass(frozen=True)
class StoreSettings:
    default: str = option(
        "file", "The store (a name of [stores.<name>]) that takes uploads unless asked otherwise."
    )
    drivers: Mapping[str, Mapping[str, Any]] = tables(
        "Each store is a table [stores.<name>]: driver = one of the drivers below (default: "
        "the name), description = what store discovery shows, and the driver's options. "
        "Several stores may use one driver, e.g. [stores.fast] and [stores.cold] both "
        'driver = "file" with their own directories.'
    )


@dataclass(frozen=True)
class ScrubSettings:
    interval: int = option(
        300,
        "Seconds between the server's own scrubs (expired upload leases, delayed deletes), "
        "run by one node at a time; 0: only glimpse scrub does it.",
        minimum=0,
    )
    upload_lease: int = option(
        120,
        "Seconds an upload's lease holds without new bytes; a node that died mid-upload "
        "leaves an image the scrubber returns to queued after this.",
        minimum=5,
    )
    orphan_grace: int = option(
        86400,
        "Seconds an object no image references must have existed before glimpse scrub "
        "--orphans counts it (uploads in flight are not orphans).",
        minimum=0,
    )


@dataclass(frozen=True)
class PicturesSettings:
    enabled: bool = option(
        True, "Serve the Pictures API (originals and renditions made on demand)."
    )
    prefix: str = option("/pictures", "Path the Pictures API is mounted under ('' for the root).")
    store: str = option(
        "", "The store (a name of [stores.<name>]) for pictures; empty: the default."
    )
    max_upload: int = option(50 << 20, "Largest original, in bytes; more is 413.", minimum=1)
    max_pixels: int = option(
        50_000_000,
        "Largest width x height (x frames) of an original, read from its header before "
        "anything is decoded; more is 413.",
        minimum=1,
    )
    max_frames: int = option(100, "Most frames an animated original may have.", minimum=1)
    max_dimension: int = option(
        4096, "Largest width or height of a rendition, whatever the allowed sizes.", minimum=1
    )
    allowed_sizes: tuple[str, ...] = option(
        (), "Rendition sizes allowed, as WxH (e.g. 100x100); empty: any size up to max_dimension."
    )
    render_threads: int = option(
        2, "Renditions rendered at once per worker process (libvips threads each).", minimum=1
    )
    render_queue: int = option(
        16, "Renditions waiting for a render thread per worker; beyond, 503.", minimum=0
    )
    memory_cache: int = option(
        16 << 20,
        "Bytes of small renditions each worker keeps in memory to send cached renditions "
        "faster than from their files (0: none).",
        minimum=0,
    )
    memory_item: int = option(
        256 << 10, "Largest rendition, in bytes, kept in a worker's memory.", minimum=0
    )
    vips_threads: int = option(
        1,
        "libvips threads per render (0: one per CPU); 1 costs least CPU per rendition "
        "when renders run side by side, more lowers one render's latency.",
        minimum=0,
    )
    claim_lease: int = option(
        30,
        "Seconds a renderer's claim on a rendition holds; a crashed renderer's claim is "
        "taken over after this.",
        minimum=1,
    )
    keep_icc: bool = option(
        False, "Keep the ICC profile in renditions; off: convert to sRGB and strip it."
    )
    fast_shrink: bool = option(
        True,
        "Decode JPEG originals at the smallest of 1/8, 1/4 or 1/2 scale that still covers "
        "the rendition (about half the work of libvips' default, which keeps a factor of "
        "two for its resize); off: sharper on fine patterns.",
    )
    placeholder: str = option("blurhash", "Placeholder computed at upload: blurhash or none.")
    public_reads: bool = option(
        True, "Anyone may read originals and renditions; off: valid credentials are needed."
    )
    signing_keys: tuple[str, ...] = option(
        (),
        "HMAC-SHA256 keys rendition URLs must be signed with (any of them, for rotation); "
        "empty: unsigned URLs.",
    )
    cache_control: str = option(
        "public, max-age=300", "Cache-Control of originals and of rendition URLs without v=."
    )
    rendition_cache_control: str = option(
        "public, max-age=31536000, immutable", "Cache-Control of versioned rendition URLs (v=)."
    )


@dataclass(frozen=True)
class CacheSettings:
    enabled: bool = option(
        False,
        "Keep a verified copy of downloaded images on this node (worth it when stores are "
        "remote: Swift, S3, HTTP); hits are served from local disk.",
    )
    directory: str = option("", "The node's cache directory; empty: <data_dir>/cache.")
    max_size: int = option(
        10 * GIB, "Bytes the cache may hold; least recently used images go first.", minimum=1
    )
    max_fraction: float = option(
        0.25, "Images larger than this fraction of max_size are streamed without caching."
    )
    background_fill: int = option(
        GIB,
        "Bytes a fill may still read after every client of it went away; more left: the "
        "fill stops and nothing is cached.",
        minimum=0,
    )
    prefetch_interval: int = option(
        10,
        "Seconds between looks at the prefetch queue (PUT /v2/cache/ID); 0: the server "
        "never prefetches.",
        minimum=0,
    )
    prefetch_concurrency: int = option(
        2, "Images this node prefetches at once, over all its workers.", minimum=1
    )


#: Import methods Glimpse implements, in Glance's order.
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")
#: Import plugins, by the name Glance gives them.
IMPORT_PLUGINS = ("image_conversion", "image_decompression", "inject_image_metadata", "no_op")


@dataclass(frozen=True)
class ImportSettings:
    methods: tuple[str, ...] = option(
        ("glance-direct", "web-download", "copy-image"),
        "Import methods offered (GET /v2/info/import): glance-direct, web-download, "
        "copy-image, glance-download (Glance's enabled_import_methods and its default).",
    )
    staging_dir: str = option(
        "", "Where PUT /v2/images/ID/stage keeps data until its import; empty: <data_dir>/staging."
    )
    self_url: str = option(
        "",
        "This node's URL as the other nodes reach it (Glance's worker_self_reference_url): "
        "a glance-direct import asked of another node is sent on to the node holding the "
        "staged data. Empty: staged data is taken to be reachable by this node only.",
    )
    workers: int = option(2, "Imports a worker process runs at once; more wait.", minimum=1)
    lock_expiry: int = option(
        3600,
        "Seconds after its task last changed that an import's lock on an image "
        "(os_glance_import_task) may be taken over; twice this for a pending task.",
        minimum=1,
    )
    task_lease: int = option(
        120,
        "Seconds an import's lease holds without progress; a node that died mid-import "
        "leaves a task the scrubber fails and an image it returns to queued after this.",
        minimum=5,
    )
    task_time_to_live: int = option(
        48, "Hours a finished task is kept (Glance's task_time_to_live).", minimum=1
    )
    plugins: tuple[str, ...] = option(
        (),
        "Import plugins run in this order on glance-direct, web-download and glance-download "
        "data: image_conversion, image_decompression, inject_image_metadata, no_op.",
    )
    conversion_format: str = option(
        "raw", "Disk format image_conversion converts to (raw, qcow2 or vmdk) with qemu-img."
    )
    qemu_img: str = option("qemu-img", "The qemu-img program image_conversion runs.")
    inject_properties: tuple[str, ...] = option(
        (),
        "Properties inject_image_metadata sets on imported images, as name=value "
        "(Glance's inject).",
    )
    inject_ignore_user_roles: tuple[str, ...] = option(
        ("admin",), "Callers with any of these roles get no injected properties."
    )
    glance_download_properties: tuple[str, ...] = option(
        ("hw_", "trait:", "os_distro", "os_secure_boot", "os_type"),
        "Prefixes of the remote image's properties glance-download copies.",
    )


@dataclass(frozen=True)
class ImportFilteringSettings:
    """What web-download and glance-download may fetch: Glance's [import_filtering_opts]
    lists, plus the address rules, time limits and size cap of Glimpse's fetches."""

    allowed_schemes: tuple[str, ...] = option(
        ("http", "https"),
        "URL schemes imports may fetch; when set, disallowed_schemes is ignored. Glimpse "
        "fetches http and https only.",
    )
    disallowed_schemes: tuple[str, ...] = option(
        (), "URL schemes refused; used only while allowed_schemes is empty."
    )
    allowed_hosts: tuple[str, ...] = option(
        (),
        "Host names or addresses imports may fetch from, exactly as named (no wildcards); "
        "when set, disallowed_hosts is ignored and the hosts named here are fetched from "
        "whatever they resolve to.",
    )
    disallowed_hosts: tuple[str, ...] = option(
        (),
        "Host names or addresses refused (an address also refuses names resolving to it); "
        "used only while allowed_hosts is empty.",
    )
    allowed_ports: tuple[int, ...] = option(
        (80, 443),
        "Ports imports may fetch from (a URL without a port uses its scheme's); when set, "
        "disallowed_ports is ignored. Empty: any port not disallowed.",
    )
    disallowed_ports: tuple[int, ...] = option(
        (), "Ports refused; used only while allowed_ports is empty."
    )
    allow_private_addresses: bool = option(
        False,
        "web-download may fetch from hosts resolving to loopback, private, link-local "
        "(cloud metadata), shared, multicast, reserved or unspecified addresses.",
    )
    glance_download_allow_private_addresses: bool = option(
        True,
        "glance-download may fetch from such addresses: the endpoint comes from the "
        "Keystone catalog, often an internal one (Glance does not check addresses).",
    )
    connect_timeout: float = option(10.0, "Seconds to wait for a connection to a remote server.")
    read_timeout: float = option(60.0, "Seconds to wait for each read from a remote server.")
    total_timeout: float = option(
        21600.0, "Seconds a whole fetch (redirects and data) may take; 0: no limit."
    )
    size_cap: int = option(
        TIB,
        "Largest image an import fetches, in bytes ([images] size_cap applies too); the "
        "fetch stops at the byte that crosses it.",
        minimum=0,
    )
    max_redirects: int = option(10, "Redirects one fetch follows, each one checked.", minimum=0)
    ca_file: str = option(
        "", "PEM file of the CA certificates https servers are checked against; empty: certifi's."
    )


@dataclass(frozen=True)
class Settings:
    data_dir: str = option(
        "./data", "Directory for the embedded SQLite registry and the file store."
    )
    server: ServerSettings = field(default_factory=ServerSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    images: ImageSettings = field(default_factory=ImageSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    stores: StoreSettings = field(default_factory=StoreSettings)
    scrub: ScrubSettings = field(default_factory=ScrubSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    pictures: PicturesSettings = field(default_factory=PicturesSettings)
    import_filtering: ImportFilteringSettings = field(default_factory=ImportFilteringSettings)
    imports: ImportSettings = field(default_factory=ImportSettings)

    @property
    def registry_url(self) -> str:
        """The registry URL, defaulting to SQLite inside the data directory."""
        if self.registry.url:
            return self.registry.url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'glimpse.db'}"


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
    for table in DRIVER_GROUPS:
        section = raw.get(table)
        if isinstance(section, dict):
            # Driver tables sit beside the choice in the file ([stores.file],
            # [identity.keystone]) and are kept apart in `drivers`; any other key is
            # left in place, so a typo is named as the unknown setting it is.
            section["drivers"] = {
                k: section.pop(k) for k in list(section) if isinstance(section[k], dict)
            }
    return options.build(Settings, raw, "")


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


def sample() -> str:
    """The sample settings file: every key with its default and help text.

    Driver tables (every installed store driver and identity mode) and the
    per-project quota table are shown commented out, so the sample loads to
    the defaults.
    """
    lines = ["# Glimpse settings. Every key is optional; shown with its default.", ""]
    lines += options.sample(Settings, "", extra=_chosen_tables)
    return "\n".join(lines).rstrip() + "\n"


def _chosen_tables(table: str) -> list[str]:
    """The commented tables that ``table`` chooses among: drivers, or projects."""
    if table == "quotas":
        return options.sample(QuotaLimitSettings, "quotas.projects.<project id>", commented=True)
    group = DRIVER_GROUPS.get(table)
    if group is None:
        return []
    lines: list[str] = []
    for name in plugins.names(group):
        driver = plugins.load(group, name)
        section = options.sample(driver.Options, f"{table}.{name}", commented=True)
        if table == "stores":
            section[1:1] = [
                "# The driver of this store; default: the table's name.",
                f'# driver = "{name}"',
                "",
                "# What GET /v2/info/stores shows of this store.",
                '# description = ""',
                "",
                "# Locations in stores of greater weight are shown and read first.",
                "# weight = 0",
                "",
            ]
        lines += section
    return lines
