"""Hypotheses and the researcher's decisions, kept under `.mlr/ideas/<paper-slug>/run.json`.

Ids (`h1`, `h2`, …) are unique across the workspace, so a command can name a hypothesis
without naming its paper."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from ..errors import MlrError
from ..state import StateDir, read_json, write_json
from .model import Decision, Hypothesis, IdeasRun, Status
from .summary import unknown


class IdeaStore:
    def __init__(self, state: StateDir):
        self.state = state

    def _file(self, slug: str) -> Path:
        return self.state.ideas / slug / "run.json"

    def load(self, slug: str) -> IdeasRun | None:
        data = read_json(self._file(slug))
        return IdeasRun.model_validate(data) if data else None

    def save(self, run: IdeasRun) -> None:
        write_json(self._file(run.paper_slug), run.model_dump(mode="json"))

    def runs(self) -> list[IdeasRun]:
        found: list[IdeasRun] = []
        if not self.state.root.is_dir():
            return found
        for path in sorted(self.state.ideas.glob("*/run.json")):
            try:
                data = read_json(path)
                if data:
                    found.append(IdeasRun.model_validate(data))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                raise MlrError(f"the proposal {path} cannot be read ({where}: {first['msg'].lower()})") from None
            except ValueError as exc:  # not JSON, or not UTF-8
                raise MlrError(f"the proposal {path} cannot be read ({str(exc).splitlines()[0]})") from None
        return found

    def hypotheses(self) -> list[Hypothesis]:
        return [h for run in self.runs() for h in sorted(run.hypotheses, key=lambda h: h.rank)]

    def find(self, hypothesis_id: str) -> tuple[IdeasRun, Hypothesis]:
        wanted = str(hypothesis_id).strip()
        for run in self.runs():
            for hypothesis in run.hypotheses:
                if hypothesis.id == wanted or hypothesis.slug == wanted:
                    return run, hypothesis
        raise unknown(wanted, self.hypotheses())

    def next_ids(self, count: int) -> list[str]:
        used = [int(m.group(1)) for h in self.hypotheses() if (m := re.fullmatch(r"h(\d+)", h.id))]
        start = max(used, default=0) + 1
        return [f"h{n}" for n in range(start, start + count)]

    def decide(self, hypothesis_id: str, status: Status, note: str = "") -> Hypothesis:
        run, hypothesis = self.find(hypothesis_id)
        hypothesis.status = status
        hypothesis.history.append(Decision(status=status, note=note))
        self.save(run)
        return hypothesis
