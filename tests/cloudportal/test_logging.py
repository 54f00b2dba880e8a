"""Log lines carry the event name, the caller's fields and the request id."""

import json
import logging

from cloudportal.logging import JsonFormatter, RoutineTaskFilter, TextFormatter


def make_record(**extra) -> logging.LogRecord:
    record = logging.LogRecord(
        "deployments.services", logging.INFO, __file__, 1, "deployment.transition", None, None
    )
    record.__dict__.update(extra)
    return record


def test_text_lines_are_readable_with_fields_and_short_request_id():
    record = make_record(deployment_id="dep_01J", to="ACTIVE", request_id="a1b2c3d4e5f6")

    line = TextFormatter().format(record)

    assert line.endswith(
        "INFO deployments.services deployment.transition deployment_id='dep_01J' to='ACTIVE' "
        "[req a1b2c3d4]"
    )


def test_json_lines_hold_event_level_fields_and_request_id():
    record = make_record(deployment_id="dep_01J", request_id="a1b2c3d4e5f6")

    line = json.loads(JsonFormatter().format(record))

    assert line["event"] == "deployment.transition"
    assert line["level"] == "INFO"
    assert line["logger"] == "deployments.services"
    assert line["deployment_id"] == "dep_01J"
    assert line["request_id"] == "a1b2c3d4e5f6"
    assert set(line) == {"time", "level", "logger", "event", "request_id", "deployment_id"}


def celery_record(logger: str, message: str, arguments, level: int = logging.INFO):
    return logging.LogRecord(logger, level, "celery.py", 1, message, arguments, None)


def test_celerys_lines_about_the_reconciler_are_dropped_and_the_rest_kept():
    routine = RoutineTaskFilter(tasks=["deployments.reconcile"])
    received = "Task %(name)s[%(id)s] received"
    succeeded = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
    reconcile = {"name": "deployments.reconcile", "id": "1", "runtime": 0.1, "return_value": None}
    provision = {**reconcile, "name": "deployments.provision"}

    assert not routine.filter(celery_record("celery.worker.strategy", received, (reconcile,)))
    assert not routine.filter(celery_record("celery.app.trace", succeeded, (reconcile,)))
    sending = "Scheduler: Sending due task %s (%s)"
    assert not routine.filter(
        celery_record(
            "celery.beat", sending, ("deployments: reconcile stacks", "deployments.reconcile")
        )
    )
    # Other tasks, and anything worse than INFO, still show.
    assert routine.filter(celery_record("celery.app.trace", succeeded, (provision,)))
    assert routine.filter(
        celery_record("celery.app.trace", succeeded, (reconcile,), level=logging.ERROR)
    )


def test_the_console_handler_drops_routine_task_lines():
    from django.conf import settings

    handler = settings.LOGGING["handlers"]["console"]
    assert "routine_tasks" in handler["filters"]
    assert settings.LOGGING["filters"]["routine_tasks"]["tasks"] == ["deployments.reconcile"]
