"""The autonomous mode as a search (`auto --search`, `eval --search`): hypotheses from the same
source as the linear mode (the paper, else the task's description), then the search over them
(`search.loop.Search`, the engine call of `mlr-copilot search`). A session is judged on the
seeded means the search measures (`search.measure`), never on its one luckiest run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..search.loop import Search
from ..search.report import SUCCESS_THRESHOLD, seeded_delta, seeded_means

if TYPE_CHECKING:
    from ..engine import Engine
    from ..paper import Paper
    from ..search.model import Journal
    from ..work import Work


async def _init_allowed(problem: str) -> bool:
    # as in the linear mode: a folder that is no repository yet starts from a first commit
    return True


async def search_session(engine: Engine, work: Work, source: Path | Paper | None, *, hypotheses: int | None,
                         resume: bool = False) -> Journal:
    """The search, its hypotheses proposed from `source` first when one is given (the search
    alone proposes from the task's description). A resumed session keeps the hypotheses it has."""
    if not resume:
        await engine.ensure_repository(_init_allowed)
        if source is not None:
            work.say("Proposing hypotheses")
            await engine.propose_hypotheses(source, work)
    return await Search(engine, work).run(hypotheses=hypotheses, resume=resume)


@dataclass(frozen=True)
class SeededScore:
    """A search session as the evaluation scores it: the seeded means of the baseline and the
    winner (the baseline's single run when nothing was measured), and what the search made."""

    baseline: float | None
    best: float | None
    best_se: float | None
    seeds: int
    improvement: float | None
    success: bool
    best_run: str | None
    best_commit: str | None
    nodes: int


def score(journal: Journal) -> SeededScore:
    pair = seeded_means(journal)
    node = journal.best()
    delta = seeded_delta(journal)
    return SeededScore(
        baseline=pair[0].mean if pair else journal.baseline_value, best=pair[1].mean if pair else None,
        best_se=pair[1].se if pair else None, seeds=len(pair[1].runs) if pair else 0, improvement=delta,
        success=delta is not None and delta >= SUCCESS_THRESHOLD,
        best_run=node.runs[-1] if node and node.runs else None, best_commit=node.commit if node else None,
        nodes=len(journal.nodes),
    )
