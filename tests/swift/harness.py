"""A real OpenStack Swift all-in-one for the tests, with its S3 API, on loopback ports.

Swift is installed from PyPI once, into a virtualenv of its own (see `peers.install`), because
its dependency tree (eventlet, PyECLib, its own lxml and cryptography pins) must not mix with
Glimpse's. Each session gets its own configuration, rings and data directory: four servers
(proxy, object, container, account), each a single process (`workers = 0`) on a free port of
127.0.0.1. The proxy serves the Swift API with tempauth (v1 auth at `/auth/v1.0`) and the S3 API
(s3api), so one server stands behind both the Swift and the S3 store drivers.

    with run_swift(tmp_path) as swift:
        swift.connection().put_object("c", "o", b"data")
        swift.s3().get_object(Bucket="c", Key="o")

Swift runs no background daemons here: account object and byte counts stay 0, and expired
objects stay listed until deleted.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import peers
from peers import PeerUnavailable

if TYPE_CHECKING:
    # Imported where used, not here: tests/conftest.py loads this module in every session.
    import swiftclient.client

SWIFT_VERSION = "2.38.3"
# Swift's own ranges admit releases that fail (eventlet 0.33 does not import on Python 3.12), so
# its dependencies are pinned too. PyECLib is needed even without an erasure-coded policy; its
# wheel bundles liberasurecode. Changing a pin rebuilds the cache.
REQUIREMENTS = (
    f"swift=={SWIFT_VERSION}",
    "PyECLib==1.8.0",
    "eventlet==0.41.3",
    "greenlet==3.5.6",
    "PasteDeploy==3.1.0",
    "lxml==6.1.3",
    "cryptography==50.0.2",
    "xattr==1.3.1",
)

ACCOUNT, USER, KEY = "test", "tester", "testing"
OTHER_ACCOUNT, OTHER_USER, OTHER_KEY = "other", "tester2", "testing2"
REGION = "us-east-1"
BACKENDS = ("object", "container", "account")
# Stock entry points, as the `swift-*-server` scripts call them.
_ENTRY_POINTS = {
    "proxy": "swift.proxy.server:main",
    "object": "swift.obj.server:main",
    "container": "swift.container.server:main",
    "account": "swift.account.server:main",
}
# Swift reads swift.conf's constraints and storage policies when its modules are imported, from
# /etc/swift/swift.conf, whatever `swift_dir` says. These set the path first, then run Swift's own
# code. They run through `python -P -c`, not the console scripts: the virtualenv is built under a
# temporary name and renamed, which leaves stale paths in the scripts' shebangs, and -P keeps the
# working directory (Swift changes it to /) off the import path.
_LAUNCH = """\
import importlib, sys
import swift.common.utils
swift.common.utils.SWIFT_CONF_FILE = sys.argv.pop(1)
module, function = sys.argv.pop(1).split(":")
sys.exit(getattr(importlib.import_module(module), function)())
"""
_RING_BUILDER = """\
import json, sys
import swift.common.utils
swift.common.utils.SWIFT_CONF_FILE = sys.argv[1]
from swift.cli.ringbuilder import main
for arguments in json.loads(sys.argv[2]):
    try:
        main(["swift-ring-builder", *arguments])
    except SystemExit as done:
        if done.code not in (None, 0, 1):  # 1 is a warning, 2 an error
            raise
"""
_IMPORT_CHECK = "import swift.proxy.server, swift.obj.server, pyeclib.ec_iface, xattr"
_PR_SET_PDEATHSIG = 1


@dataclass
class Swift:
    """A running Swift: its URLs and credentials, clients for both APIs, and fault switches."""

    url: str
    auth_url: str
    user: str
    key: str
    account_url: str
    s3_endpoint: str
    s3_region: str
    access_key: str
    secret_key: str
    # A second account, for isolation tests; `.admin` in it, like the first.
    other_user: str
    other_key: str
    other_account_url: str
    directory: Path
    _servers: dict[str, _Server] = field(repr=False)

    def log(self, server: str = "proxy") -> Path:
        """The log file of `server` (proxy, object, container or account)."""
        return self._servers[server].log

    def connection(
        self, user: str | None = None, key: str | None = None
    ) -> swiftclient.client.Connection:
        """A swiftclient connection with tempauth v1, as the first user unless told otherwise.

        It retries once, briefly: a test that stops the proxy wants the error, not a minute of
        backing off.
        """
        import swiftclient.client

        return swiftclient.client.Connection(
            authurl=self.auth_url,
            user=user or self.user,
            key=key or self.key,
            auth_version="1",
            retries=1,
            starting_backoff=0.1,
            max_backoff=0.5,
            timeout=30,
        )

    def s3(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A boto3 S3 client for the first user unless told otherwise, with path-style addressing
        (the proxy has no bucket domain); it retries once, like `connection`."""
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name=self.s3_region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=botocore.config.Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def stop_proxy(self) -> None:
        """Kill the proxy (SIGKILL, no clean shutdown); the backends keep running."""
        self._servers["proxy"].kill()

    def start_proxy(self) -> None:
        """Start the proxy again on its port and wait until `/info` answers.

        Raises:
            PeerUnavailable: it did not start; the message ends with its log.
        """
        proxy = self._servers["proxy"]
        proxy.start()
        proxy.wait_until_ready()

    def containers(self) -> list[str]:
        """The names of the first account's containers."""
        with contextlib.closing(self.connection()) as connection:
            _, listing = connection.get_account(full_listing=True)
        return [entry["name"] for entry in listing]

    def remove_containers(self, *names: str) -> None:
        """Empty and remove containers of the first account (best effort: missing ones,
        or a Swift going away with the session, are no error)."""
        import swiftclient.exceptions

        with contextlib.closing(self.connection()) as connection:
            for container in names:
                try:
                    _, listing = connection.get_container(container, full_listing=True)
                    for entry in listing:
                        connection.delete_object(container, entry["name"])
                    connection.delete_container(container)
                except swiftclient.exceptions.ClientException:
                    pass

    def objects(self, container: str) -> list[str]:
        """The names of the objects in `container` of the first account; [] if it is missing."""
        import swiftclient.exceptions

        with contextlib.closing(self.connection()) as connection:
            try:
                _, listing = connection.get_container(container, full_listing=True)
            except swiftclient.exceptions.ClientException as exc:
                if exc.http_status != 404:
                    raise
                return []
        return [entry["name"] for entry in listing]


class _Server:
    """One Swift server process: how to start it, and where it logs."""

    def __init__(self, name: str, venv: Path, swift_dir: Path, port: int, log: Path) -> None:
        self.name = name
        self.venv = venv
        self.swift_dir = swift_dir
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def what(self) -> str:
        return f"Swift {self.name} server"

    @property
    def ready_url(self) -> str:
        path = "info" if self.name == "proxy" else "healthcheck"
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        # A second server would bind the same port beside the first (SO_REUSEPORT) and share it.
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.what} is already running")
        command = [
            str(self.venv / "bin" / "python"),
            "-P",
            "-c",
            _LAUNCH,
            str(self.swift_dir / "swift.conf"),
            _ENTRY_POINTS[self.name],
            str(self.swift_dir / f"{self.name}-server.conf"),
            # Without -v Swift logs only to syslog; with it, also to stderr, which is the log.
            "-v",
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=peers.clean_environment({}),
                cwd=self.swift_dir,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )

    def wait_until_ready(self) -> None:
        assert self.process is not None
        peers.wait_until_answers(self.process, self.ready_url, self.log, self.what)

    def kill(self) -> None:
        """SIGKILL and reap it, then keep its port from other processes' bind(0) meanwhile."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(OSError):
            _reserve_port(self.port)

    def stop(self) -> None:
        # Each server calls setsid() itself, so its process group is its own: peers.stop fits.
        if self.process is not None and self.process.returncode is None:
            peers.stop(self.process)


def install(root: Path | None = None) -> Path:
    """Return a virtualenv holding Swift, installing it on first use (see `peers.install`).

    Raises:
        PeerUnavailable: the install failed; the message ends with pip's output.
    """
    return peers.install(f"swift-{SWIFT_VERSION}", REQUIREMENTS, root, _check_install)


@contextlib.contextmanager
def run_swift(directory: Path, cache: Path | None = None) -> Iterator[Swift]:
    """Install Swift if needed, configure a fresh one in `directory`, start it, and stop it.

    Its data lives in `directory`, which must support user extended attributes. Each server
    logs to `directory/<server>.log`.

    Raises:
        PeerUnavailable: installing, configuring or starting failed, or `directory` has no
            user extended attributes.
    """
    venv = install(cache)
    swift_dir, devices = directory / "etc", directory / "srv"
    for made in (swift_dir, devices / "d1", directory / "recon"):
        made.mkdir(parents=True, exist_ok=True)
    _check_xattrs(devices / "d1")
    ports = {name: _reserve_port() for name in _ENTRY_POINTS}
    _write_config(directory, ports)
    servers = {
        name: _Server(name, venv, swift_dir, port, directory / f"{name}.log")
        for name, port in ports.items()
    }
    try:
        # The backends do not read the rings, so they start while the rings are built.
        for name in BACKENDS:
            servers[name].start()
        _build_rings(venv, swift_dir, ports, directory / "rings.log")
        servers["proxy"].start()
        for server in servers.values():
            server.wait_until_ready()
        yield _describe(directory, servers)
    finally:
        for server in servers.values():
            server.stop()


def _describe(directory: Path, servers: dict[str, _Server]) -> Swift:
    url = f"http://127.0.0.1:{servers['proxy'].port}"
    return Swift(
        url=url,
        auth_url=f"{url}/auth/v1.0",
        user=f"{ACCOUNT}:{USER}",
        key=KEY,
        account_url=f"{url}/v1/AUTH_{ACCOUNT}",
        s3_endpoint=url,
        s3_region=REGION,
        # s3api takes tempauth's `account:user` as the access key and its key as the secret.
        access_key=f"{ACCOUNT}:{USER}",
        secret_key=KEY,
        other_user=f"{OTHER_ACCOUNT}:{OTHER_USER}",
        other_key=OTHER_KEY,
        other_account_url=f"{url}/v1/AUTH_{OTHER_ACCOUNT}",
        directory=directory,
        _servers=servers,
    )


def _check_install(venv: Path, out: IO[bytes], log: Path) -> None:
    """Import the servers once at install time, so a broken install is never cached."""
    peers.run_logged([str(venv / "bin" / "python"), "-P", "-c", _IMPORT_CHECK], out, log)


def _check_xattrs(device: Path) -> None:
    """Swift keeps each object's metadata in a `user.swift.metadata` extended attribute; without
    them every PUT fails with 507 in the object server and 503 at the client."""
    probe = device / ".xattr-probe"
    probe.touch()
    try:
        os.setxattr(probe, "user.glimpse.probe", b"1")
    except OSError as exc:
        raise PeerUnavailable(
            f"Swift needs user extended attributes, and {device} has none ({exc.strerror});"
            " give pytest a --basetemp on ext4, xfs or btrfs"
        ) from None
    finally:
        probe.unlink()


def _reserve_port(port: int = 0) -> int:
    """A loopback port that the kernel will not hand to another bind(0) for about a minute.

    Swift binds its port itself, with SO_REUSEPORT: two servers given one number would share it
    without an error. A connection accepted and closed here first leaves the port in TIME_WAIT,
    which keeps it out of other processes' bind(0), while Swift's SO_REUSEADDR bind still works.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # the side that closes first holds the TIME_WAIT
    return port


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that makes the server die with the test process, however that ends:
    servers orphaned by a crashed pytest worker would otherwise run on."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork, not in the child

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook


def _build_rings(venv: Path, swift_dir: Path, ports: dict[str, int], log: Path) -> None:
    """One device, one replica: every partition lives in `devices/d1` of each backend."""
    commands = []
    for name in BACKENDS:
        builder = str(swift_dir / f"{name}.builder")
        device = [
            "--region", "1", "--zone", "1", "--ip", "127.0.0.1", "--port", str(ports[name]),
            "--device", "d1", "--weight", "100",
        ]  # fmt: skip
        commands += [[builder, "create", "10", "1", "1"], [builder, "add", *device]]
        commands += [[builder, "rebalance"]]
    command = [
        str(venv / "bin" / "python"),
        "-P",
        "-c",
        _RING_BUILDER,
        str(swift_dir / "swift.conf"),
        json.dumps(commands),
    ]
    with log.open("wb") as out:
        peers.run_logged(command, out, log, peers.clean_environment({}))


def _write_config(directory: Path, ports: dict[str, int]) -> None:
    swift_dir = directory / "etc"
    # The hash prefix and suffix place the data; this data directory lives only for this run.
    (swift_dir / "swift.conf").write_text(
        f"""\
[swift-hash]
swift_hash_path_suffix = {secrets.token_hex(8)}
swift_hash_path_prefix = {secrets.token_hex(8)}

[storage-policy:0]
name = Policy-0
policy_type = replication
default = yes

[swift-constraints]
# ext4 holds only about 3 KB of user metadata per object, though Swift would admit 4096 bytes:
# more gives ENOSPC, then 507 and 503. 2048 is also AWS's limit.
max_meta_overall_size = 2048
"""
    )
    for name in BACKENDS:
        (swift_dir / f"{name}-server.conf").write_text(
            f"""\
{_defaults(directory, ports[name])}
devices = {directory / "srv"}
# A plain directory, not a mount point: mount_check would answer 507 to every request.
mount_check = false
disable_fallocate = true
recon_cache_path = {directory / "recon"}

[pipeline:main]
pipeline = healthcheck {name}-server

[app:{name}-server]
use = egg:swift#{name}

[filter:healthcheck]
use = egg:swift#healthcheck
"""
        )
    (swift_dir / "proxy-server.conf").write_text(_proxy_config(directory, ports["proxy"]))


def _defaults(directory: Path, port: int) -> str:
    return f"""\
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
# One process per server, whose pid is the server's.
workers = 0
user = {pwd.getpwuid(os.getuid()).pw_name}
swift_dir = {directory / "etc"}
# Swift always logs to syslog as well (the journal, if /dev/log exists). This sends that copy to
# a UDP port where nothing listens; -v puts the log on stderr.
log_udp_host = 127.0.0.1
log_udp_port = {port}"""


def _proxy_config(directory: Path, port: int) -> str:
    # The order matters, and a wrong one is not caught at start-up: tempauth before s3api
    # rejects every S3 signature, slo before s3api breaks S3 multipart uploads, and no auth
    # after s3api would serve S3 unauthenticated.
    pipeline = (
        "catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk tempurl"
        " s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server"
    )
    filters = "\n".join(
        f"[filter:{name}]\nuse = egg:swift#{name.replace('-', '_')}\n"
        for name in (
            "catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "listing_formats",
            "bulk", "tempurl", "copy", "dlo", "versioned_writes", "symlink",
        )
    )  # fmt: skip
    return f"""\
{_defaults(directory, port)}

[pipeline:main]
pipeline = {pipeline}

[app:proxy-server]
use = egg:swift#proxy
# Otherwise a new account answers 404 until an operator creates it.
account_autocreate = true
allow_account_management = true
# A single 507 or timeout would otherwise make the only node answer 503 for a minute.
error_suppression_interval = 0

[filter:tempauth]
use = egg:swift#tempauth
user_{ACCOUNT}_{USER} = {KEY} .admin
user_{OTHER_ACCOUNT}_{OTHER_USER} = {OTHER_KEY} .admin
# Fernet tokens (a key is 32 random bytes in URL-safe base64) need no memcached, which the test
# suite does not run.
fernet_key_k1 = {base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}
active_fernet_key_id = k1

[filter:s3api]
use = egg:swift#s3api
location = {REGION}
s3_acl = false
dns_compliant_bucket_names = true
allow_multipart_uploads = true
min_segment_size = 5242880

[filter:slo]
use = egg:swift#slo
# s3api deletes multipart objects asynchronously otherwise, and with no object expirer
# running their parts would stay behind.
allow_async_delete = false

{filters}"""
