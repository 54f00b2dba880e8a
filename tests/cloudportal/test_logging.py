"""Log lines carry the event name, the caller's fields and the request id."""

import json
import logging

from cloudportal.logging import JsonFormatter, TextFormatter


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
