"""The schema documents, checked the way the clients use them, without a server.

python-glanceclient validates with jsonschema through warlock and builds JSON patches from
the image schema, so these tests drive exactly those pieces: realistic Glance-shaped
documents must validate, wrong ones must not, and the client's own model class must build an
image and produce the patch Glance expects.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import warlock
from glanceclient.v2 import schemas as glance_schemas
from jsonschema.validators import validator_for

from glimpse.api.schemas import SCHEMA_NAMES, schema
from glimpse.model import CONTAINER_FORMATS, DISK_FORMATS, Status, Visibility

IMAGE_ID = "1bea47ed-f6a9-463b-b423-14b9cca9ad27"
KERNEL_ID = "a2459075-d96c-40d5-893e-577ff92e721c"

DOCUMENT_NAMES = {
    "image": "image",
    "images": "images",
    "member": "member",
    "members": "members",
    "task": "task",
    "tasks": "tasks",
    "metadefs/namespace": "namespace",
    "metadefs/namespaces": "namespaces",
    "metadefs/resource_type": "resource_type_association",
    "metadefs/resource_types": "resource_type_associations",
    "metadefs/property": "property",
    "metadefs/properties": "properties",
    "metadefs/object": "object",
    "metadefs/objects": "objects",
    "metadefs/tag": "tag",
    "metadefs/tags": "tags",
}

OPERATOR_PROPERTIES = {
    "kernel_id",
    "ramdisk_id",
    "instance_uuid",
    "architecture",
    "os_distro",
    "os_version",
    "description",
    "cinder_encryption_key_id",
    "cinder_encryption_key_deletion_policy",
}


def make_image(**overrides: Any) -> dict[str, Any]:
    """An image as Glance returns it for a fresh record: every base attribute, nulls unset."""
    image: dict[str, Any] = {
        "name": None,
        "disk_format": None,
        "container_format": None,
        "visibility": "shared",
        "size": None,
        "virtual_size": None,
        "status": "queued",
        "checksum": None,
        "protected": False,
        "min_ram": 0,
        "min_disk": 0,
        "owner": "b3e1d5c2f0a84f7d9c6a2e4b8d1f3a5c",
        "os_hidden": False,
        "os_hash_algo": None,
        "os_hash_value": None,
        "id": IMAGE_ID,
        "created_at": "2026-07-22T10:00:00Z",
        "updated_at": "2026-07-22T10:00:00Z",
        "tags": [],
        "self": f"/v2/images/{IMAGE_ID}",
        "file": f"/v2/images/{IMAGE_ID}/file",
        "schema": "/v2/schemas/image",
    }
    image.update(overrides)
    return image


def make_active_image() -> dict[str, Any]:
    """An uploaded image with extra properties, locations and a store list shown."""
    return make_image(
        name="cirros-0.6.2",
        disk_format="qcow2",
        container_format="bare",
        visibility="public",
        size=21430272,
        virtual_size=117440512,
        status="active",
        checksum="c8fc807773e5354afe61636071771906",
        os_hash_algo="sha512",
        os_hash_value="1103b92ce8ad966e41235a4de260deb791ff571670c0342666c8582fbb9caefe"
        "6af07ebb11d34f44f8414b609b29c1bdf1d72ffa6faa39c88e8721d09847952b",
        tags=["cirros", "test"],
        kernel_id=KERNEL_ID,
        os_distro="cirros",
        description="",
        hw_disk_bus="virtio",
        owner_specified_openstack_md5="",
        direct_url=f"file:///var/lib/glimpse/images/{IMAGE_ID}",
        locations=[{"url": f"file:///var/lib/glimpse/images/{IMAGE_ID}", "metadata": {}}],
        stores="fast,slow",
    )


def validate(document: dict[str, Any], name: str) -> None:
    jsonschema.validate(document, schema(name))


def image_model_class() -> Any:
    """The model class glanceclient builds from the served image schema."""
    raw = glance_schemas.Schema(schema("image")).raw()
    return warlock.model_factory(raw, base_class=glance_schemas.SchemaBasedModel)


# --- the catalogue ---------------------------------------------------------------------------


def test_schema_names_are_the_glance_routes() -> None:
    assert tuple(DOCUMENT_NAMES) == SCHEMA_NAMES


@pytest.mark.parametrize(("path", "name"), DOCUMENT_NAMES.items())
def test_each_document_is_a_valid_json_schema_with_its_name(path: str, name: str) -> None:
    document = schema(path)
    assert isinstance(document, dict)
    assert document["name"] == name
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    validator_for(document).check_schema(document)


def test_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError):
        schema("metadefs/unknown")


def test_each_call_returns_an_independent_copy() -> None:
    first = schema("image")
    first["properties"]["name"]["maxLength"] = 1
    first["properties"]["container_format"]["enum"].clear()
    again = schema("image")
    assert again["properties"]["name"]["maxLength"] == 255
    assert again["properties"]["container_format"]["enum"][0] is None


# --- the image document ----------------------------------------------------------------------


def test_image_shape() -> None:
    image = schema("image")
    assert image["additionalProperties"] == {"type": "string"}
    assert image["links"] == [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ]
    props = image["properties"]
    read_only = {key for key, spec in props.items() if spec.get("readOnly")}
    assert read_only == {
        "status",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "created_at",
        "updated_at",
        "direct_url",
        "self",
        "file",
        "stores",
        "schema",
    }
    not_base = {key for key, spec in props.items() if "is_base" in spec}
    assert not_base == OPERATOR_PROPERTIES
    assert all(props[key]["is_base"] is False for key in not_base)


def test_image_enums_match_the_model() -> None:
    props = schema("image")["properties"]
    assert sorted(props["status"]["enum"]) == sorted(s.value for s in Status)
    assert sorted(props["visibility"]["enum"]) == sorted(v.value for v in Visibility)
    assert props["container_format"]["enum"] == [None, *CONTAINER_FORMATS]
    assert props["disk_format"]["enum"] == [None, *DISK_FORMATS]


@pytest.mark.parametrize("image", [make_image(), make_active_image()], ids=["queued", "active"])
def test_glance_shaped_image_validates(image: dict[str, Any]) -> None:
    validate(image, "image")


def test_image_list_validates() -> None:
    page = {
        "images": [make_active_image(), make_image(id="c2e1f5b1-0d3e-4d8c-9b8a-2f7e6d5c4b3a")],
        "first": "/v2/images?limit=2",
        "next": f"/v2/images?limit=2&marker={IMAGE_ID}",
        "schema": "/v2/schemas/images",
    }
    validate(page, "images")
    page["images"][1]["hw_cdrom_bus"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate(page, "images")


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"], {"a": "b"}])
def test_non_string_extra_property_fails(value: object) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(make_image(hw_disk_bus=value), "image")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("id", "not-a-uuid"),
        ("name", "x" * 256),
        ("status", "uploaded"),
        ("visibility", "everyone"),
        ("protected", "false"),
        ("container_format", "zip"),
        ("disk_format", "exe"),
        ("min_ram", "512"),
        ("size", -1.5),
        ("checksum", "0" * 33),
        ("tags", ["ok", 7]),
        ("tags", ["x" * 256]),
        ("kernel_id", "vmlinuz"),
        ("cinder_encryption_key_deletion_policy", "sometimes"),
        ("locations", [{"url": "file:///x"}]),
    ],
)
def test_wrong_base_and_operator_values_fail(key: str, value: object) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(make_image(**{key: value}), "image")


def test_nullable_operator_properties_accept_null() -> None:
    validate(make_image(kernel_id=None, ramdisk_id=None), "image")


# --- what python-glanceclient does with the image schema -------------------------------------


def test_glanceclient_tells_base_from_operator_properties() -> None:
    parsed = glance_schemas.Schema(schema("image"))
    assert parsed.name == "image"
    assert parsed.is_base_property("name")
    assert parsed.is_base_property("os_hash_value")
    assert not parsed.is_base_property("os_distro")
    assert parsed.is_core_property("os_distro")
    assert not parsed.is_core_property("hw_disk_bus")


def test_glanceclient_model_builds_a_create_body() -> None:
    model = image_model_class()
    image = model()  # glanceclient starts from an empty model and sets each argument
    image.name = "cirros"
    image.disk_format = "qcow2"
    image.container_format = "bare"
    image.visibility = "private"
    image.os_distro = "cirros"
    image.hw_disk_bus = "virtio"
    assert dict(image) == {
        "name": "cirros",
        "disk_format": "qcow2",
        "container_format": "bare",
        "visibility": "private",
        "os_distro": "cirros",
        "hw_disk_bus": "virtio",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [("visibility", "everyone"), ("disk_format", "exe"), ("min_disk", "1"), ("hw_disk_bus", 1)],
)
def test_glanceclient_model_rejects_bad_values(key: str, value: object) -> None:
    image = image_model_class()()
    with pytest.raises(warlock.InvalidOperation):
        setattr(image, key, value)


def test_glanceclient_model_patches_as_glance_expects() -> None:
    body = make_active_image()
    body.pop("self")  # glanceclient drops it before building the model
    del body["min_ram"]  # a base attribute the response happened to omit
    image = image_model_class()(**body)

    image.name = "cirros-renamed"
    image.min_ram = 512
    image.os_version = "0.6.2"
    image.hw_qemu_guest_agent = "yes"
    del image.hw_disk_bus

    ops = sorted(json.loads(image.patch), key=lambda op: op["path"])
    assert ops == [
        {"op": "remove", "path": "/hw_disk_bus"},
        {"op": "add", "path": "/hw_qemu_guest_agent", "value": "yes"},
        # A base attribute missing from the original is replaced, never added.
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "replace", "path": "/name", "value": "cirros-renamed"},
        # An operator property is not base, so it is added.
        {"op": "add", "path": "/os_version", "value": "0.6.2"},
        # The client re-sends the whole tag list with every patch of a tagged image.
        {"op": "replace", "path": "/tags", "value": ["cirros", "test"]},
    ]


def test_glanceclient_model_sends_tags_as_one_replace() -> None:
    body = make_image(tags=["a"])
    body.pop("self")
    image = image_model_class()(**body)
    image.tags = ["a", "b"]
    assert json.loads(image.patch) == [{"path": "/tags", "value": ["a", "b"], "op": "replace"}]


# --- members and tasks -----------------------------------------------------------------------


def test_member_documents_validate() -> None:
    member = {
        "image_id": IMAGE_ID,
        "member_id": "7f3a2c1e9b8d4a6f",
        "status": "pending",
        "created_at": "2026-07-22T10:00:00Z",
        "updated_at": "2026-07-22T10:00:00Z",
        "schema": "/v2/schemas/member",
    }
    validate(member, "member")
    validate({"members": [member], "schema": "/v2/schemas/members"}, "members")
    with pytest.raises(jsonschema.ValidationError):
        validate({**member, "status": "maybe"}, "member")


def test_member_and_task_documents_are_in_glances_reduced_form() -> None:
    for name in ("member", "members", "task", "tasks"):
        assert "additionalProperties" not in schema(name)
    for name in ("members", "tasks"):
        assert schema(name)["links"] == [{"rel": "describedby", "href": "{schema}"}]
        assert set(schema(name)["properties"]) == {name, "schema"}
    stub = schema("tasks")["properties"]["tasks"]["items"]["properties"]
    assert not {"input", "result", "message"} & set(stub)


def test_task_document_validates() -> None:
    task = {
        "id": "ee22890e-8948-4ea6-9668-831f973c84f5",
        "type": "api_image_import",
        "status": "processing",
        "owner": "64f0efc9955145aeb06f297a8a6fe402",
        "input": {"image_id": IMAGE_ID},
        "result": None,
        "message": "",
        "expires_at": None,
        "created_at": "2026-07-22T10:00:00Z",
        "updated_at": "2026-07-22T10:00:05Z",
        "self": "/v2/tasks/ee22890e-8948-4ea6-9668-831f973c84f5",
        "schema": "/v2/schemas/task",
    }
    validate(task, "task")
    with pytest.raises(jsonschema.ValidationError):
        validate({**task, "status": "done"}, "task")


# --- metadata definitions --------------------------------------------------------------------

CPU_POLICY = {
    "title": "CPU Pinning policy",
    "type": "string",
    "enum": ["shared", "dedicated"],
}


def make_namespace() -> dict[str, Any]:
    return {
        "namespace": "OS::Compute::CPUPinning",
        "display_name": "CPU Pinning",
        "description": "Guest CPU pinning.",
        "visibility": "public",
        "protected": True,
        "owner": "admin",
        "created_at": "2026-07-22T10:00:00Z",
        "updated_at": "2026-07-22T10:00:00Z",
        "schema": "/v2/schemas/metadefs/namespace",
        "self": "/v2/metadefs/namespaces/OS::Compute::CPUPinning",
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        "properties": {"cpu_policy": CPU_POLICY},
        "objects": [
            {
                "name": "CPU Limits",
                "required": ["quota:cpu_shares"],
                "properties": {"quota:cpu_shares": {"title": "Shares", "type": "integer"}},
            }
        ],
        "tags": [{"name": "pinning"}],
    }


def test_namespace_documents_validate_and_resolve_references() -> None:
    namespace = make_namespace()
    validate(namespace, "metadefs/namespace")
    # The list keeps the definitions at its root, where "#/definitions/..." points.
    page = {"namespaces": [namespace], "first": "/v2/metadefs/namespaces", "schema": "x"}
    validate(page, "metadefs/namespaces")
    untitled = make_namespace()
    untitled["properties"]["cpu_policy"] = {"type": "string"}
    with pytest.raises(jsonschema.ValidationError):
        validate(untitled, "metadefs/namespace")
    with pytest.raises(jsonschema.ValidationError):
        validate({**page, "namespaces": [untitled]}, "metadefs/namespaces")
    with pytest.raises(jsonschema.ValidationError):
        validate({**namespace, "unknown": "x"}, "metadefs/namespace")


def test_property_documents_validate() -> None:
    validate({"name": "cpu_policy", **CPU_POLICY}, "metadefs/property")
    with pytest.raises(jsonschema.ValidationError):
        validate(CPU_POLICY, "metadefs/property")  # a standalone property needs its name
    # In a list the name is the key, so the items need none.
    validate({"properties": {"cpu_policy": CPU_POLICY}}, "metadefs/properties")
    with pytest.raises(jsonschema.ValidationError):
        validate({"properties": {"cpu_policy": {"type": "string"}}}, "metadefs/properties")


def test_object_resource_type_and_tag_documents_validate() -> None:
    obj = make_namespace()["objects"][0]
    validate(obj, "metadefs/object")
    validate({"objects": [obj], "schema": "/v2/schemas/metadefs/objects"}, "metadefs/objects")
    with pytest.raises(jsonschema.ValidationError):
        validate({**obj, "required": ["a", "a"]}, "metadefs/object")
    with pytest.raises(jsonschema.ValidationError):
        validate({"objects": [{**obj, "properties": {"x": {}}}]}, "metadefs/objects")

    association = {"name": "OS::Nova::Flavor", "prefix": "hw:", "properties_target": "image"}
    validate(association, "metadefs/resource_type")
    validate({"resource_type_associations": [association]}, "metadefs/resource_types")
    with pytest.raises(jsonschema.ValidationError):
        validate({"prefix": "hw:"}, "metadefs/resource_type")

    validate({"name": "pinning"}, "metadefs/tag")
    validate({"tags": [{"name": "pinning"}]}, "metadefs/tags")
    with pytest.raises(jsonschema.ValidationError):
        validate({"name": "x" * 256}, "metadefs/tag")
