"""python-glanceclient's `glance md-*` and python-openstackclient's `openstack image
metadef` commands, unchanged, against a real server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from glimpse.testing import ServerProcess
from helpers import BIN, glance, property_table


@pytest.fixture(scope="module")
def none_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir=tmp_path_factory.mktemp("md-client"))
    server.start()
    yield server
    server.stop()


BOX = '{"description": "A box", "properties": {"w": {"type": "integer", "title": "W"}}}'


def _table_column(output: str) -> list[str]:
    """The first column of a `glance` list table, without its header."""
    rows = [line.split("|")[1].strip() for line in output.splitlines() if line.startswith("|")]
    return rows[1:]


def test_glance_md_commands(none_server: ServerProcess) -> None:
    ns = "Glimpse::Client::Test"
    created = property_table(
        glance(
            none_server, "md-namespace-create", ns, "--display-name", "Client test",
            "--visibility", "public", "--description", "From glanceclient",
        ).stdout
    )  # fmt: skip
    assert created["namespace"] == ns
    assert created["visibility"] == "public"
    assert ns in _table_column(glance(none_server, "md-namespace-list").stdout)
    assert property_table(glance(none_server, "md-namespace-show", ns).stdout)["display_name"] == (
        "Client test"
    )

    glance(
        none_server, "md-property-create", ns, "--name", "speed", "--title", "Speed",
        "--type", "integer", "--schema", '{"type": "integer", "title": "Speed", "minimum": 1}',
    )  # fmt: skip
    assert _table_column(glance(none_server, "md-property-list", ns).stdout) == ["speed"]
    shown = property_table(glance(none_server, "md-property-show", ns, "speed").stdout)
    assert shown["type"] == "integer"
    assert shown["minimum"] == "1"

    glance(
        none_server, "md-object-create", ns, "--name", "Box",
        "--schema", BOX,
    )  # fmt: skip
    assert _table_column(glance(none_server, "md-object-list", ns).stdout) == ["Box"]
    assert property_table(glance(none_server, "md-object-show", ns, "Box").stdout)["name"] == "Box"

    glance(none_server, "md-tag-create", ns, "--name", "fast")
    glance(none_server, "md-tag-create-multiple", ns, "--names", "a,b")
    assert sorted(_table_column(glance(none_server, "md-tag-list", ns).stdout)) == ["a", "b"]
    renamed = property_table(glance(none_server, "md-tag-update", ns, "a", "--name", "c").stdout)
    assert renamed["name"] == "c"

    types = _table_column(glance(none_server, "md-resource-type-list").stdout)
    assert {"OS::Glance::Image", "OS::Nova::Flavor", "OS::Cinder::Volume"} <= set(types)
    glance(
        none_server, "md-resource-type-associate", ns, "--name", "OS::Glance::Image",
        "--prefix", "box_",
    )  # fmt: skip
    listed = glance(none_server, "md-namespace-resource-type-list", ns).stdout
    assert _table_column(listed) == ["OS::Glance::Image"]

    protected = glance(none_server, "md-namespace-update", ns, "--protected", "True").stdout
    assert property_table(protected)["protected"] == "True"
    refused = glance(none_server, "md-namespace-delete", ns, ok=False)
    assert refused.returncode != 0
    assert "protected" in refused.stderr
    glance(none_server, "md-namespace-update", ns, "--protected", "False")
    glance(none_server, "md-resource-type-deassociate", ns, "OS::Glance::Image")
    for contents in ("tags", "objects", "properties"):
        glance(none_server, f"md-namespace-{contents}-delete", ns)
    glance(none_server, "md-namespace-delete", ns)
    assert ns not in _table_column(glance(none_server, "md-namespace-list").stdout)


def _openstack(server: ServerProcess, *args: str, ok: bool = True) -> str:
    """python-openstackclient's `openstack image metadef ...`, in auth type none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = subprocess.run(
        [str(BIN / "openstack"), "--os-auth-type", "none", "--os-endpoint", server.url,
         "image", "metadef", *args],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert (done.returncode == 0) == ok, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


def test_openstack_image_metadef_commands(none_server: ServerProcess) -> None:
    ns = "Glimpse::OSC::Test"
    created = _openstack(none_server, "namespace", "create", ns, "--public", "--display-name", "O")
    assert ns in created
    assert ns in _openstack(none_server, "namespace", "list")
    assert "public" in _openstack(none_server, "namespace", "show", ns)
    _openstack(none_server, "object", "create", "--namespace", ns, "Box")
    assert "Box" in _openstack(none_server, "object", "list", ns)
    assert "OS::Nova::Server" in _openstack(none_server, "resource", "type", "list")
    _openstack(none_server, "resource", "type", "association", "create", ns, "OS::Glance::Image")
    assert "OS::Glance::Image" in _openstack(
        none_server, "resource", "type", "association", "list", ns
    )
    _openstack(none_server, "namespace", "set", ns, "--protected")
    assert "protected" in _openstack(none_server, "namespace", "delete", ns, ok=False)
    _openstack(none_server, "namespace", "set", ns, "--unprotected")
    _openstack(none_server, "namespace", "delete", ns)
    assert ns not in _openstack(none_server, "namespace", "list")
