"""The outputs contract: what every template in the library produces, read without special cases.

A stack's outputs arrive from Heat as `[{"output_key": ..., "output_value": ...}, ...]`;
`stack_outputs_parse` turns them into `StackOutputs`. `volume_id` is null when the
deployment has no data volume (the output's condition is false).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CONTRACT_OUTPUTS: tuple[str, ...] = (
    "server_id",
    "public_ip",
    "private_ip",
    "login_user",
    "ssh_port",
    "volume_id",
)
# Outputs a template may leave null: everything else must have a value once CREATE_COMPLETE.
NULLABLE_OUTPUTS: frozenset[str] = frozenset({"volume_id"})


class StackOutputsInvalid(ValueError):
    """A stack's outputs break the contract (missing key or a null where a value is due)."""


@dataclass(frozen=True)
class StackOutputs:
    server_id: str
    public_ip: str
    private_ip: str
    login_user: str
    ssh_port: int
    volume_id: str | None


def _outputs_as_mapping(outputs: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    if isinstance(outputs, Mapping):
        return dict(outputs)
    return {item["output_key"]: item.get("output_value") for item in outputs}


def stack_outputs_parse(outputs: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> StackOutputs:
    """Heat's output list (or a plain key -> value mapping) as typed `StackOutputs`."""
    values = _outputs_as_mapping(outputs)
    missing = [key for key in CONTRACT_OUTPUTS if key not in values]
    if missing:
        raise StackOutputsInvalid(f"Stack outputs lack {', '.join(missing)}.")
    empty = [key for key in CONTRACT_OUTPUTS if values[key] is None and key not in NULLABLE_OUTPUTS]
    if empty:
        raise StackOutputsInvalid(f"Stack outputs have no value for {', '.join(empty)}.")
    try:
        ssh_port = int(values["ssh_port"])
    except (TypeError, ValueError) as error:
        raise StackOutputsInvalid(f"ssh_port is not a port: {values['ssh_port']!r}.") from error
    volume_id = values["volume_id"]
    return StackOutputs(
        server_id=str(values["server_id"]),
        public_ip=str(values["public_ip"]),
        private_ip=str(values["private_ip"]),
        login_user=str(values["login_user"]),
        ssh_port=ssh_port,
        volume_id=None if volume_id in (None, "") else str(volume_id),
    )
