"""Log formatters: JSON lines in production, readable lines in development.

A log call is an event name plus fields: ``logger.info("deployment.transition",
extra={"deployment_id": ..., "to": ...})``. Both formatters print the fields and the
request id that django-guid's filter put on the record.
"""

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _PythonJsonFormatter

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
) | {"message", "asctime", "request_id", "celery_parent_id", "celery_current_id", "color_message"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a caller passed through `extra=`."""
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRIBUTES}


class TextFormatter(logging.Formatter):
    """`12:00:01 INFO deployments.services deployment.transition to=ACTIVE [req 1a2b3c4d]`."""

    def __init__(self) -> None:
        super().__init__(fmt="%(asctime)s %(levelname)s %(name)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value!r}" for key, value in record_fields(record).items())
        if fields:
            line = f"{line} {fields}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line = f"{line} [req {str(request_id)[:8]}]"
        return line


class JsonFormatter(_PythonJsonFormatter):
    """One JSON object per line: time, level, logger, event, request_id and the fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "message": "event",
            },
            reserved_attrs=[*_STANDARD_ATTRIBUTES - {"request_id"}],
        )


class RoutineTaskFilter(logging.Filter):
    """Drops Celery's INFO lines about routine periodic tasks (received, succeeded, sent by
    beat): the reconciler runs every 3 seconds, and its lines buried everything else in
    `make run`'s console. What such a task changes it logs itself; failures still show."""

    LOGGERS = frozenset({"celery.worker.strategy", "celery.app.trace", "celery.beat"})

    def __init__(self, tasks: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or record.name not in self.LOGGERS:
            return True
        arguments = record.args
        if isinstance(arguments, dict):
            names = {arguments.get("name")}
        elif isinstance(arguments, tuple):
            names = set(arguments)
        else:
            names = set()
        return not (names & self.tasks)
