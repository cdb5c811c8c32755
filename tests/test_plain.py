"""`plain.from_json`: the reader of the records the light commands load without pydantic takes
a record as this package writes it and refuses, naming the field, a value of another type."""

from __future__ import annotations

import pytest

from mlr_copilot.plain import from_json
from mlr_copilot.runners.queue_records import QueueEntry
from mlr_copilot.status import Spend

ENTRY = {"run_id": "r1", "state": "running", "host": "h", "pid": 7, "enqueued_at": 5}


def test_a_record_is_read_with_its_defaults_an_int_for_a_float_and_extra_keys_ignored():
    entry = from_json(QueueEntry, {**ENTRY, "gpu_ids": ["0"], "written_by": "a later version"})
    assert entry == QueueEntry(run_id="r1", state="running", host="h", pid=7, enqueued_at=5.0, gpu_ids=["0"])
    assert isinstance(entry.enqueued_at, float)
    spend = from_json(Spend, {"calls": 2, "cost_usd": None, "tasks": {"ideas": {"calls": 2}}})
    assert spend.tasks["ideas"].calls == 2 and spend.cost_usd is None and spend.models == {}


@pytest.mark.parametrize("change, field", [
    ({"state": "sleeping"}, "state"),
    ({"pid": "7"}, "pid"),
    ({"pid": True}, "pid"),
    ({"pid": 7.5}, "pid"),
    ({"gpu_ids": "0,1"}, "gpu_ids"),
    ({"gpu_ids": [0]}, "gpu_ids"),
    ({"slot": "one"}, "slot"),
    ({"enqueued_at": None}, "enqueued_at"),
    ({"cancel_requested": 1}, "cancel_requested"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(change, field):
    with pytest.raises(ValueError, match=field):
        from_json(QueueEntry, {**ENTRY, **change})


def test_a_missing_field_or_a_record_that_is_no_object_is_refused():
    with pytest.raises(ValueError, match="host is missing"):
        from_json(QueueEntry, {k: v for k, v in ENTRY.items() if k != "host"})
    with pytest.raises(ValueError, match="not an object"):
        from_json(QueueEntry, [ENTRY])
