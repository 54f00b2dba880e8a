"""devcloud's HOT handling: parameters against their constraints, conditions, functions."""

import pytest

from heat.devcloud import hot
from heat.devcloud.errors import HeatApiError

PSEUDO = {"OS::stack_name": "dep-x", "OS::stack_id": "id", "OS::project_id": "p"}


def resolve(template, **given):
    return hot.resolve_parameters(template, given, pseudo=PSEUDO, known={})


def test_parameters_take_defaults_and_types(gpu_template, gpu_parameters):
    values = resolve(gpu_template, **{**gpu_parameters, "volume_size": "40"})

    assert values["volume_size"] == 40
    assert values["os_type"] == "linux"
    assert values["OS::stack_name"] == "dep-x"


@pytest.mark.parametrize(
    ("changes", "error_type", "message"),
    [
        ({"volume_size": 20000}, "StackValidationFailed",
         "Parameter 'volume_size' is invalid: 20000 is out of range (min: 0, max: 16384)"),
        ({"volume_size": "lots"}, "StackValidationFailed",
         "Parameter 'volume_size' is invalid: could not convert string to float: 'lots'"),
        ({"colour": "red"}, "UnknownUserParameter",
         "The Parameter (colour) was not defined in template."),
    ],
)  # fmt: skip
def test_parameters_outside_their_definition_are_refused(
    gpu_template, gpu_parameters, changes, error_type, message
):
    with pytest.raises(HeatApiError) as raised:
        resolve(gpu_template, **{**gpu_parameters, **changes})

    assert (raised.value.status, raised.value.error_type, raised.value.message) == (
        400, error_type, message,
    )  # fmt: skip


def test_custom_constraints_are_checked_once_the_names_are_known(gpu_template, gpu_parameters):
    with pytest.raises(HeatApiError) as raised:
        hot.resolve_parameters(
            gpu_template, gpu_parameters, pseudo=PSEUDO, known={"nova.flavor": ["g1.h100x1"]}
        )

    assert raised.value.message == (
        "Parameter 'flavor' is invalid: Error validating value 'g1.a100x1': "
        "The Flavor (g1.a100x1) could not be found."
    )


def test_conditions_select_resources_and_properties(gpu_template, gpu_parameters):
    values = resolve(gpu_template, **{**gpu_parameters, "os_type": "windows",
                                      "admin_password": "pw", "volume_size": 0})  # fmt: skip
    evaluator = hot.Evaluator(gpu_template, values)

    order = hot.creation_order(gpu_template, evaluator)
    server = evaluator.evaluate(gpu_template["resources"]["server"]["properties"])

    assert order == ["sec_group", "port", "floating_ip", "server"]
    assert server["admin_pass"] == "pw"
    assert server["config_drive"] is True
    assert server["key_name"] is None
    assert server["user_data"].startswith("#ps1_sysnative")


def test_cloud_config_carries_the_ssh_key(gpu_template, gpu_parameters):
    values = resolve(gpu_template, **gpu_parameters)
    evaluator = hot.Evaluator(gpu_template, values)

    server = evaluator.evaluate(gpu_template["resources"]["server"]["properties"])
    group = evaluator.evaluate(gpu_template["resources"]["sec_group"]["properties"])

    assert server["user_data"].startswith("#cloud-config\n")
    assert f'  - "{gpu_parameters["ssh_public_key"]}"' in server["user_data"]
    assert group["name"] == "dep-x-sg"
    assert group["rules"][0]["port_range_min"] == 22


def test_a_template_without_a_version_or_in_bad_yaml_is_refused():
    with pytest.raises(HeatApiError) as missing:
        hot.parse_template({"resources": {}})
    with pytest.raises(HeatApiError) as broken:
        hot.parse_template("heat_template_version: 2021-04-16\nresources: [unclosed")

    assert missing.value.message == "Template format version not found."
    assert broken.value.error_type == "HTTPBadRequest"
    assert broken.value.message.startswith("Template not in valid format:")
