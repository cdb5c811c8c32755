"""`plain.from_json`: the reader of the records the light commands load without pydantic takes
a record as this package writes it and refuses, naming the field, a value of another type;
`plain.jsonable` writes it as `dataclasses.asdict` did."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from mlr_copilot.plain import EMPTY_LIST, from_json, jsonable
from mlr_copilot.runners.queue_records import QueueEntry
from mlr_copilot.status import Spend, Totals
from tests.lightshape import assert_extends

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


def test_spend_holds_the_fields_of_totals_first():
    """`Spend` repeats `Totals`' fields (a NamedTuple has no base class): the same, in order."""
    assert_extends(Spend, Totals)


def test_a_shared_default_list_or_dict_refuses_changes_and_is_written_as_json_writes_them():
    entry = from_json(QueueEntry, ENTRY)
    assert entry.gpu_ids == [] and entry.gpu_ids is EMPTY_LIST
    with pytest.raises(TypeError, match="shared"):
        entry.gpu_ids.append("0")
    with pytest.raises(TypeError, match="shared"):
        Spend().tasks["ideas"] = Totals()
    assert QueueEntry(**{**ENTRY, "enqueued_at": 5.0}).gpu_ids == []  # nothing leaked into the default
    # pickled (a process pool, Ray) and deep-copied, it is still an empty list or dict
    assert pickle.loads(pickle.dumps(entry)) == entry and copy.deepcopy(Spend()) == Spend()
    assert json.dumps(jsonable(entry)) == json.dumps({**ENTRY, "enqueued_at": 5.0, "gpus": 0, "node": None, "slot": None,
                                                      "gpu_ids": [], "owner_started": None, "started_at": None,
                                                      "finished_at": None, "reason": None, "cancel_requested": False})


def test_a_record_a_model_holds_is_dumped_as_an_object_and_read_from_one():
    """pydantic dumps a NamedTuple as an array: the records the models keep (the journal's and
    the auto session's `usage`) are written as the objects the light readers read."""
    from pydantic import BaseModel, Field

    class Session(BaseModel):
        usage: Spend = Field(default_factory=Spend)

    spend = Spend(calls=2, cost_usd=None, tasks={"ideas": Totals(calls=2)})
    written = Session(usage=spend).model_dump_json()
    assert json.loads(written)["usage"] == jsonable(spend)
    assert json.loads(written)["usage"]["tasks"]["ideas"]["calls"] == 2
    assert Session.model_validate_json(written).usage == spend
    assert from_json(Spend, json.loads(written)["usage"]) == spend
