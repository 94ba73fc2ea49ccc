"""What the client commands share: connection options, making the client, exit codes.

Options are given ``SUPPRESS`` defaults so that they can be written after the
group (``glimpse image --os-cloud c list``) or after the command, and an unset
one falls back to ``clouds.yaml`` or ``OS_*`` in ``glimpse.client.connect``.
Exit status: 0 done, 1 the server or the network said no (one line on stderr:
``glimpse: <status> <title>: <message> (request id ...)``), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping

from glimpse.cli.output import UsageError
from glimpse.client import Client, ClientError, ConfigurationError

#: (flags, destination, help) of each connection option; the destination is the
#: ``Client.from_options`` argument it fills.
OPTIONS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("--os-image-url", "--endpoint"), "endpoint", "Image API root URL (OS_IMAGE_URL)"),
    (("--os-auth-token", "--token"), "token", "token sent as X-Auth-Token (OS_AUTH_TOKEN)"),
    (("--os-cloud",), "cloud", "cloud of clouds.yaml to use (OS_CLOUD)"),
    (("--os-auth-type",), "auth_type", "auth type: password, token, none (OS_AUTH_TYPE)"),
    (("--os-auth-url",), "auth_url", "Keystone URL (OS_AUTH_URL)"),
    (("--os-username",), "username", "Keystone user name (OS_USERNAME)"),
    (("--os-user-id",), "user_id", "Keystone user id (OS_USER_ID)"),
    (("--os-password",), "password", "Keystone password (OS_PASSWORD)"),
    (("--os-project-name",), "project_name", "project to scope to (OS_PROJECT_NAME)"),
    (("--os-project-id",), "project_id", "project id to scope to (OS_PROJECT_ID)"),
    (("--os-user-domain-name",), "user_domain_name", "user's domain (OS_USER_DOMAIN_NAME)"),
    (("--os-user-domain-id",), "user_domain_id", "user's domain id (OS_USER_DOMAIN_ID)"),
    (
        ("--os-project-domain-name",),
        "project_domain_name",
        "project's domain (OS_PROJECT_DOMAIN_NAME)",
    ),
    (
        ("--os-project-domain-id",),
        "project_domain_id",
        "project's domain id (OS_PROJECT_DOMAIN_ID)",
    ),
    (("--os-region-name",), "region_name", "catalog region (OS_REGION_NAME)"),
    (("--os-interface",), "interface", "catalog interface, default public (OS_INTERFACE)"),
    (("--os-cacert",), "cacert", "CA bundle to verify TLS with (OS_CACERT)"),
    (("--pictures-url",), "pictures_url", "Pictures API URL (default: endpoint + /pictures)"),
)


def connection_options() -> argparse.ArgumentParser:
    """The connection options, for ``parents=`` of every client command."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection")
    for flags, dest, text in OPTIONS:
        group.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=text)
    group.add_argument(
        "--insecure",
        action="store_true",
        default=argparse.SUPPRESS,
        help="do not verify the server's TLS certificate",
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=argparse.SUPPRESS,
        help="seconds to wait for each read or write (default 300)",
    )
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("a timeout is more than 0 and at most 86400 seconds")
    return value


def client_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Client:
    """The Client the command line and the environment describe."""
    given = {dest: getattr(args, dest) for _, dest, _ in OPTIONS if hasattr(args, dest)}
    if getattr(args, "insecure", False):
        given["insecure"] = True
    if hasattr(args, "timeout"):
        given["timeout"] = args.timeout
    return Client.from_options(environ=environ, **given)


def guarded(action: Callable[[], int]) -> int:
    """Run a command; turn the errors it may meet into one line and an exit status."""
    try:
        return action()
    except ConfigurationError as exc:
        print(f"glimpse: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"glimpse: {exc}", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"glimpse: error: {exc}", file=sys.stderr)
        return 2
    except UnicodeEncodeError:
        print("glimpse: error: an argument is not valid UTF-8 text", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glimpse: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more can be shown, and flushing
        # stdout again at exit would only fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
