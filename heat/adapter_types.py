"""What the adapter returns: frozen dataclasses, never openstacksdk objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RegionRef:
    """A cloud (a name in clouds.yaml) and one of its regions."""

    cloud: str
    region: str

    def __str__(self) -> str:
        return f"{self.cloud}/{self.region}"


@dataclass(frozen=True)
class StackRef:
    """What identifies a stack without a lookup: Heat's id and the stack's name."""

    id: str
    name: str


def _split_status(status: str) -> tuple[str, str]:
    action, _, state = status.partition("_")
    # IN_PROGRESS keeps its underscore: CREATE_IN_PROGRESS -> (CREATE, IN_PROGRESS).
    return action, state


@dataclass(frozen=True)
class StackOutput:
    key: str
    value: Any
    description: str = ""
    error: str | None = None  # Heat's output_error, when resolving the output failed


@dataclass(frozen=True)
class StackSummary:
    """A stack as the bulk list shows it: no outputs."""

    id: str
    name: str
    status: str
    status_reason: str
    tags: tuple[str, ...]
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def ref(self) -> StackRef:
        return StackRef(id=self.id, name=self.name)

    @property
    def action(self) -> str:
        return _split_status(self.status)[0]

    @property
    def state(self) -> str:
        """IN_PROGRESS, COMPLETE or FAILED."""
        return _split_status(self.status)[1]


@dataclass(frozen=True)
class StackListing:
    """One region's listed stacks; `complete` False when the listing showed signs of
    leaving stacks out (`problem` says which), so an absence from it proves nothing."""

    stacks: tuple[StackSummary, ...]
    complete: bool = True
    problem: str = ""


@dataclass(frozen=True)
class Stack(StackSummary):
    outputs: tuple[StackOutput, ...] = ()
    # The parameters Heat holds for the stack, as strings (an update changes them).
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def output_values(self) -> dict[str, Any]:
        return {output.key: output.value for output in self.outputs}


@dataclass(frozen=True)
class StackEvent:
    id: str
    time: datetime | None
    resource_name: str
    resource_status: str
    reason: str
    physical_resource_id: str
    is_stack_event: bool  # the stack's own transition rather than one resource's


@dataclass(frozen=True)
class StackResource:
    name: str
    type: str
    status: str
    reason: str
    physical_id: str


@dataclass(frozen=True)
class ResourceProgress:
    resources: tuple[StackResource, ...]

    @property
    def total(self) -> int:
        return len(self.resources)

    @property
    def complete(self) -> int:
        # INIT_COMPLETE means "not started yet" in Heat's resource list.
        return sum(
            1
            for resource in self.resources
            if resource.status.endswith("_COMPLETE") and not resource.status.startswith("INIT")
        )
