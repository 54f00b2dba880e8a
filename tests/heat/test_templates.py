"""The HOT template library: valid, in step with the renderer, honouring the outputs contract."""

import json
from pathlib import Path

import pytest
import yaml

from heat.contract import CONTRACT_OUTPUTS, StackOutputs, StackOutputsInvalid, stack_outputs_parse
from heat.rendering import (
    TEMPLATES_DIR,
    RenderedStack,
    ServerSpec,
    StackParameters,
    TemplateRenderError,
    hot_parse,
    stack_parameter_names,
    stack_render,
    template_names,
)
from heat.validation import parameters_check, template_library_validate, template_validate

FIXTURES = Path(__file__).parent / "fixtures" / "templates"
KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2xwpXeKk0JQcL7QjsLNYBMj3m8gH7aNuvXMQB6Jb4o ana@laptop",
    'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 "Zoë, build box" #1',
)


def spec(**overrides):
    values = {
        "name": "train-01",
        "flavor": "g1.h100x1",
        "image": "ubuntu-24.04-cuda-12.8-20261101",
        "login_user": "ubuntu",
        "ssh_public_keys": KEYS,
        "private_network": "tenant-net",
        "public_network": "public",
        "volume_type": "nvme",
        "volume_size_gb": 250,
        "tags": ("cloudportal", "dep_01JD0000000000000000000000"),
    }
    return ServerSpec(**{**values, **overrides})


def test_the_library_has_the_linux_gpu_vm_template():
    assert template_names() == ["linux-gpu-vm.yaml"]


def test_every_library_template_is_valid():
    assert template_library_validate() == {"linux-gpu-vm.yaml": []}


def test_the_renderer_passes_exactly_the_declared_parameters():
    document = hot_parse(stack_render(spec()).template)

    assert set(document["parameters"]) == stack_parameter_names()
    assert set(stack_render(spec()).parameters.as_dict()) == stack_parameter_names()


def test_every_template_produces_every_contract_output():
    for name in template_names():
        document = hot_parse((TEMPLATES_DIR / name).read_text())
        assert set(CONTRACT_OUTPUTS) <= set(document["outputs"])


def test_validation_fails_on_a_template_that_lacks_a_contract_output():
    problems = template_validate((FIXTURES / "missing-output.yaml").read_text())

    assert problems == ["Lacks contract output 'volume_id'."]


def test_validation_fails_on_parameters_out_of_step_with_the_renderer():
    problems = template_validate((FIXTURES / "parameters-out-of-step.yaml").read_text())

    assert problems == [
        "Does not declare parameter 'volume_type' that the renderer passes.",
        "Declares parameter 'allowed_cidr' that the renderer does not pass.",
        "get_param refers to undeclared parameter 'volume_type'.",
        "get_resource refers to unknown resource 'golden_volume'.",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("heat_template_version: [oops", "Not valid YAML"),
        ("- a list", "Not a HOT template"),
        ("heat_template_version: 2010-01-01\nresources: {}", "Unknown heat_template_version"),
        ("heat_template_version: 2021-04-16\nresources: {a: {properties: {}}}", "'a' has no type"),
        (
            "heat_template_version: 2021-04-16\nresources:\n"
            "  a: {type: OS::Nova::Server, condition: missing}",
            "resource 'a' uses unknown condition 'missing'",
        ),
    ],
)
def test_validation_reports_malformed_templates(text, problem):
    problems = template_validate(text, parameter_names=frozenset(), contract_outputs=())

    assert any(problem in item for item in problems), problems


def test_render_returns_the_template_its_parameters_and_tags():
    rendered = stack_render(spec())

    assert rendered == RenderedStack(
        template_name="linux-gpu-vm.yaml",
        template=(TEMPLATES_DIR / "linux-gpu-vm.yaml").read_text(),
        parameters=StackParameters(
            name="train-01",
            flavor="g1.h100x1",
            image="ubuntu-24.04-cuda-12.8-20261101",
            login_user="ubuntu",
            ssh_authorized_keys=json.dumps(list(KEYS)),
            private_network="tenant-net",
            public_network="public",
            volume_type="nvme",
            volume_size=250,
            system_volume_size=100,
            server_state="running",
        ),
        tags=("cloudportal", "dep_01JD0000000000000000000000"),
    )
    assert rendered.tags_csv == "cloudportal,dep_01JD0000000000000000000000"
    assert rendered.template_document()["heat_template_version"] == "2021-04-16"
    assert parameters_check(rendered.template, rendered.parameters.as_dict()) == []


def cloud_config(rendered):
    """The user data as Heat's str_replace would produce it, parsed as cloud-init does."""
    document = hot_parse(rendered.template)
    replace = document["resources"]["server"]["properties"]["user_data"]["str_replace"]
    text = replace["template"]
    values = rendered.parameters.as_dict()
    for placeholder, source in replace["params"].items():
        text = text.replace(placeholder, str(values[source["get_param"]]))
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_cloud_init_installs_every_key_and_sets_the_hostname():
    config = cloud_config(stack_render(spec()))

    assert config["ssh_authorized_keys"] == list(KEYS)
    assert config["hostname"] == "train-01"
    assert config["preserve_hostname"] is False


def test_without_a_volume_the_volume_parameters_are_empty():
    rendered = stack_render(spec(volume_type=None, volume_size_gb=0))

    assert (rendered.parameters.volume_type, rendered.parameters.volume_size) == ("", 0)
    assert parameters_check(rendered.template, rendered.parameters.as_dict()) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Train_01"}, "not a valid hostname"),
        ({"name": "-x"}, "not a valid hostname"),
        ({"ssh_public_keys": ()}, "At least one SSH public key"),
        ({"ssh_public_keys": ("ssh-ed25519 AAAA\nruncmd: [rm]",)}, "one non-empty line"),
        ({"volume_type": None}, "needs a volume type"),
        ({"volume_size_gb": 0}, "without a volume size"),
        ({"volume_size_gb": 20000}, "Volume size"),
        ({"tags": ("a,b",)}, "has a comma"),
        ({"flavor": " "}, "flavor is empty"),
        ({"os_family": "windows"}, "No template for OS family 'windows'"),
    ],
)
def test_render_refuses_values_that_cannot_make_a_valid_stack(overrides, message):
    with pytest.raises(TemplateRenderError, match=message):
        stack_render(spec(**overrides))


def test_parameters_check_catches_values_outside_the_constraints():
    rendered = stack_render(spec())
    values = {**rendered.parameters.as_dict(), "volume_size": 99999, "name": "A B", "extra": 1}

    assert parameters_check(rendered.template, values) == [
        "name='A B' does not match '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'.",
        "volume_size=99999 is outside {'min': 0, 'max': 16384}.",
        "Parameter 'extra' is not declared by the template.",
    ]


# --- every seeded catalog combination renders ----------------------------------------


@pytest.mark.django_db
def test_every_seeded_catalog_combination_renders():
    from catalog.selectors import deployment_spec_resolve, offer_list
    from catalog.services import catalog_seed_file_load

    catalog_seed_file_load()
    rendered_count = 0
    for offer in offer_list():
        storage_choices = [None, *offer.storage_profiles]
        for instance_type in offer.instance_types:
            for image in offer.images:
                for profile in storage_choices:
                    resolved = deployment_spec_resolve(
                        region=offer.region.slug,
                        instance_type=instance_type.slug,
                        image=image.slug,
                        storage_profile=profile.slug if profile else None,
                    )
                    rendered = stack_render(
                        resolved.server_spec(
                            name="vm-1", ssh_public_keys=KEYS[:1], tags=("cloudportal", "dep_x")
                        )
                    )
                    assert template_validate(rendered.template) == []
                    assert parameters_check(rendered.template, rendered.parameters.as_dict()) == []
                    assert rendered.parameters.flavor == resolved.flavor
                    assert rendered.parameters.volume_size == (
                        profile.default_size_gb if profile else 0
                    )
                    rendered_count += 1

    # eu-central-1: 12 types x 2 images x (no volume + 2 profiles); us-east-1: 8 x 2 x (1 + 1)
    assert rendered_count == 12 * 2 * 3 + 8 * 2 * 2


# --- the outputs contract -----------------------------------------------------------


def heat_outputs(**overrides):
    values = {
        "server_id": "9f1c4d1e-0000-4000-8000-000000000001",
        "public_ip": "203.0.113.10",
        "private_ip": "10.0.0.5",
        "login_user": "ubuntu",
        "ssh_port": 22,
        "volume_id": None,
        **overrides,
    }
    return [
        {"output_key": key, "output_value": value, "description": "..."}
        for key, value in values.items()
    ]


def test_heat_outputs_parse_into_the_contract():
    assert stack_outputs_parse(heat_outputs()) == StackOutputs(
        server_id="9f1c4d1e-0000-4000-8000-000000000001",
        public_ip="203.0.113.10",
        private_ip="10.0.0.5",
        login_user="ubuntu",
        ssh_port=22,
        volume_id=None,
    )
    assert stack_outputs_parse(heat_outputs(volume_id="v-1", ssh_port="22")).volume_id == "v-1"


def test_outputs_that_break_the_contract_are_refused():
    with pytest.raises(StackOutputsInvalid, match="lack volume_id"):
        stack_outputs_parse([item for item in heat_outputs() if item["output_key"] != "volume_id"])
    with pytest.raises(StackOutputsInvalid, match="no value for public_ip"):
        stack_outputs_parse(heat_outputs(public_ip=None))
    with pytest.raises(StackOutputsInvalid, match="ssh_port is not a port"):
        stack_outputs_parse(heat_outputs(ssh_port="ssh"))
