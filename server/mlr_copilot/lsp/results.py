"""What the server's commands answer, and every place the LSP layer reads an engine result:
when an engine result changes shape, this module is where the editor's side follows. The
shapes are the contract with the VS Code extension's `protocol.ts` (tested against it)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..plain import jsonable
from ..runners.model import RunRecord

if TYPE_CHECKING:
    from ..experiment.agent import ImplementState
    from ..experiment.debug import DebugReport, FixResult
    from ..ideas.model import Hypothesis
    from ..runners.batch import BatchItem


class HypothesisInfo(BaseModel):
    id: str
    title: str
    rank: int
    status: str
    paper: str | None
    branch: str | None
    metric: str | None
    direction: str | None


class ProposeResult(BaseModel):
    document: str | None
    notes: list[str]
    hypotheses: list[HypothesisInfo]


class ImplementResult(BaseModel):
    hypothesis: str
    branch: str
    status: str
    message: str
    commits: list[str]
    steps: list[dict[str, Any]]


class UndoResult(BaseModel):
    reverted: bool
    commit: str | None


class EditDecision(BaseModel):
    accepted: bool


class DismissResult(BaseModel):
    uri: str
    dismissed: int


def json_safe(data: Any) -> Any:
    """NaN and infinities become null: a diverged run's metric must not make the message
    invalid JSON for the client."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, list):
        return [json_safe(v) for v in data]
    return data


def to_json(result: Any) -> Any:
    """An engine result (a model or plain data) as JSON the client can read."""
    return json_safe(result.model_dump(mode="json") if isinstance(result, BaseModel) else jsonable(result))


def hypothesis_info(h: Hypothesis) -> HypothesisInfo:
    return HypothesisInfo(id=h.id, title=h.title, rank=h.rank, status=h.status, paper=h.paper,
                          branch=h.branch, metric=h.plan.metric, direction=h.plan.direction)


def implement_result(state: ImplementState) -> ImplementResult:
    return ImplementResult(hypothesis=state.hypothesis, branch=state.branch, status=state.status,
                           message=state.message, commits=state.commits,
                           steps=[s.model_dump(mode="json") for s in state.steps])


def record_summary(record: RunRecord) -> dict[str, Any]:
    """A run as the client reads it (`RunRecord` in protocol.ts): the record plus `value`,
    its primary metric's value."""
    data = record.model_dump(mode="json")
    data["value"] = record.primary_value
    summary: dict[str, Any] = json_safe(data)
    return summary


def fix_result(result: FixResult) -> tuple[Any, RunRecord | None]:
    """`Engine.fix`'s answer for the client, and the run it made (if any)."""
    return to_json(result), result.run


def debug_result(report: DebugReport) -> tuple[Any, RunRecord | None]:
    """`Engine.debug`'s report for the client, and its last run (if any)."""
    return to_json(report), report.final_run


def batch_result(items: list[BatchItem]) -> list[dict[str, Any]]:
    """`Engine.run_hypotheses`'s answer for the client (`BatchItem` in protocol.ts): each run
    as `record_summary` gives it."""
    return [{**to_json(item.model_dump(mode="json", exclude={"run"})),
             "run": record_summary(item.run) if item.run is not None else None} for item in items]
