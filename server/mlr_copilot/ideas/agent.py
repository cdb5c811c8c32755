"""The IdeaAgent: from a paper to ranked hypotheses with experiment plans.

Steps, each saved before the next so a crash resumes where it stopped: parse the PDF,
analyse it (task, gaps, keywords), retrieve related work, draft hypotheses grounded in both,
then assess each for novelty against the closest retrieved work and score it; the scores rank.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from .. import prompts
from ..errors import MlrError
from ..llm.client import schema_hint
from ..retrieval.model import RelatedWork
from ..retrieval.related import related_work
from ..search.store import read_evidence
from ..taskfile import TaskError, load_task
from ..work import Work
from . import document
from .model import (
    Analysis,
    Assessment,
    Assessments,
    Citation,
    CitedWork,
    Decision,
    Draft,
    Drafts,
    Hypothesis,
    IdeasRun,
)
from .store import IdeaStore

if TYPE_CHECKING:
    from ..context import AgentContext
    from ..paper import Paper, Section

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

# Sections that say what is open, read first when the digest must be cut.
PRIORITY = ("abstract", "introduction", "method", "approach", "limitation", "discussion", "conclusion", "experiment", "result")
DIGEST_CHARS = 14_000
SECTION_CHARS = 3_000


def digest(paper: Paper) -> str:
    """The paper's text within a budget: every section gets a share, the ones that say what is
    open come first, so the analysis sees more than the abstract."""
    sections = [s for s in paper.sections if not s.heading.lower().startswith(("reference", "acknowledg"))]

    def priority(index_section: tuple[int, Section]) -> tuple[int, int]:
        index, section = index_section
        heading = section.heading.lower()
        rank = next((n for n, word in enumerate(PRIORITY) if word in heading), len(PRIORITY))
        return (rank, index)

    chosen: list[tuple[int, str]] = []
    used = len(paper.abstract)
    for index, section in sorted(enumerate(sections), key=priority):
        if used >= DIGEST_CHARS:
            break
        text = section.text[: min(SECTION_CHARS, DIGEST_CHARS - used)]
        used += len(text)
        chosen.append((index, f"## {section.heading}\n{text}"))
    body = "\n\n".join(text for _index, text in sorted(chosen))
    return f"Authors: {', '.join(paper.authors)}\n\n## Abstract\n{paper.abstract}\n\n{body}".strip()


def _works_text(works: list[RelatedWork], limit: int = 12) -> str:
    if not works:
        return "(none found)"
    lines = []
    for work in works[:limit]:
        abstract = work.abstract[:400].replace("\n", " ")
        lines.append(f"- [{work.id}] ({work.source}) {work.title}: {abstract}")
    return "\n".join(lines)


def _hypotheses_text(drafts: list[Draft]) -> str:
    return "\n\n".join(
        f"{n}. {d.title}\nMethod: {d.method}\nRationale: {d.rationale}\nPlan: {d.plan.metric} ({d.plan.direction}) on {d.plan.dataset}"
        for n, d in enumerate(drafts, start=1)
    )


def experiment_context(workspace: Path) -> str:
    """What the workspace's experiment looks like, so hypotheses fit the code that exists, and
    what a search measured on it (its last reflect step), so results flow back into the ideas."""
    evidence = read_evidence(workspace)
    measured = f"\n\nWhat a search of this workspace measured so far:\n{evidence}" if evidence else ""
    try:
        task = load_task(workspace)
    except (TaskError, ImportError):
        return "No task description in the workspace; propose experiments that a small Python code base can run." + measured
    return (
        f"The workspace holds the task '{task.title}': {task.description.strip()}\n"
        f"Its experiment runs with `{task.command}` and reports the metric '{task.metric.name}' ({task.metric.direction})."
        + measured
    )


class IdeaAgent:
    def __init__(self, context: AgentContext):
        self.context = context
        self.store = IdeaStore(context.state)

    async def _ask(self, name: str, schema: type[M], call: str, **fields: Any) -> M:
        messages = prompts.messages(name, schema=schema_hint(schema), **fields)
        return await self.context.llm.structured(messages, schema, task="ideas", call=call)

    async def propose(self, paper: Paper, work: Work) -> IdeasRun:
        """Hypotheses from `paper` (read from a PDF, or a task description made into one)."""
        settings = self.context.settings.ideas
        run = self.store.load(paper.slug)
        if run is None or run.paper_sha256 != paper.sha256:
            run = IdeasRun(paper_path=paper.path, paper_slug=paper.slug, paper_title=paper.title, paper_sha256=paper.sha256)
        # a new proposal replaces the undecided hypotheses and keeps the decided ones
        kept = [h for h in run.hypotheses if h.status != "proposed"]

        if run.analysis is None:
            work.say("Analysing the paper: task, gaps, keywords", 15)
            run.analysis = await self._ask("ideas_analyse", Analysis, "ideas.analyse", title=paper.title, digest=digest(paper))
            self.store.save(run)

        work.say("Retrieving related work", 35)
        run.related, run.notes = await asyncio.to_thread(self._related, paper, run.analysis, work)
        self.store.save(run)

        work.say(f"Drafting {settings.hypotheses} hypotheses", 50)
        drafts = await self._ask(
            "ideas_generate", Drafts, "ideas.generate",
            title=paper.title, task=run.analysis.task,
            gaps="\n".join(f"- {g}" for g in run.analysis.gaps),
            related=_works_text(run.related), context=experiment_context(self.context.workspace),
            count=settings.hypotheses,
        )
        fresh = drafts.hypotheses[: settings.hypotheses]
        # No second request for the missing ones: a recorded script (the demo, `auto` at the
        # default count) holds one reply per call, so the shortfall is reported instead.
        if len(fresh) < settings.hypotheses:
            run.notes.append(f"asked the model for {settings.hypotheses} hypotheses; it returned {len(fresh)}")

        work.say("Checking novelty and scoring", 75)
        assessments = await self._assess(run, fresh)
        ids = self.store.next_ids(len(fresh))
        new = [_hypothesis(draft, hid, run, assessment) for draft, hid, assessment in zip(fresh, ids, assessments)]
        run.hypotheses = _ranked(kept + new)
        self.store.save(run)
        work.say("Writing the hypotheses document", 95)
        run.document = str(document.write(self.context.workspace, run))
        self.store.save(run)
        return run

    def _related(self, paper: Paper, analysis: Analysis, work: Work) -> tuple[list[RelatedWork], list[str]]:
        settings = self.context.settings.ideas
        query = " ".join([paper.title, analysis.task, *analysis.keywords])
        library = settings.library and str((self.context.workspace / settings.library).resolve())
        result = related_work(
            query, references=paper.references, library_dir=library,
            cache_dir=self.context.state.cache("retrieval"), online=settings.online, k=12,
            should_cancel=work.cancel.is_set, report=lambda message: work.report(message, None),
            environ=self.context.environ,
        )
        return list(result.works), list(result.notes)

    async def _assess(self, run: IdeasRun, drafts: list[Draft]) -> list[Assessment]:
        """One assessment per draft, in the drafts' order."""
        result = await self._ask(
            "ideas_assess", Assessments.covering(len(drafts)), "ideas.assess",
            task=run.analysis.task if run.analysis else "", related=_works_text(run.related),
            hypotheses=_hypotheses_text(drafts),
            count=len(drafts),
        )
        return result.assessments

    async def refine(self, hypothesis_id: str, feedback: str | None, work: Work) -> Hypothesis:
        run, old = self.store.find(hypothesis_id)
        doc = document.document_path(self.context.workspace, run.paper_slug)
        written = document.feedback_for(doc.read_text(encoding="utf-8"), old.id) if doc.exists() else ""
        text = (feedback or "").strip() or written
        if not text:
            raise MlrError(
                f"no feedback for {old.id}: pass it with the command, or write a line 'Feedback: …' under the hypothesis in {doc}"
            )
        work.say(f"Refining {old.id}", 20)
        draft = await self._ask(
            "ideas_refine", Draft, "ideas.refine",
            title=run.paper_title, task=run.analysis.task if run.analysis else "",
            related=_works_text(run.related),
            hypothesis=json.dumps(Draft.model_validate(old.model_dump()).model_dump(mode="json"), indent=1),
            feedback=text,
        )
        work.say("Checking novelty and scoring", 60)
        [assessment] = await self._assess(run, [draft])
        new = _hypothesis(draft, old.id, run, assessment)
        new.status = "proposed"
        new.history = old.history + [Decision(status="proposed", note=f"refined: {text}")]
        new.feedback = old.feedback + [text]
        run.hypotheses = _ranked([new if h.id == old.id else h for h in run.hypotheses])
        self.store.save(run)
        document.write(self.context.workspace, run, consumed={old.id})
        return next(h for h in run.hypotheses if h.id == old.id)


def _cited_works(citations: list[Citation], related: list[RelatedWork]) -> list[CitedWork]:
    """The citations resolved by work id against the retrieved works; one the retrieval never
    returned keeps the LLM's words and is marked, since the model may have invented it."""
    retrieved = {work.id: work for work in related}
    resolved = []
    for citation in citations:
        # the prompt lists works as "[id]", and models often copy the brackets
        work = retrieved.get(citation.work_id.strip(" []"))
        if work is None:
            resolved.append(CitedWork(**citation.model_dump()))
        else:
            resolved.append(CitedWork(work_id=work.id, title=work.title, source=work.source, how=citation.how, retrieved=True))
    return resolved


def _hypothesis(draft: Draft, hypothesis_id: str, run: IdeasRun, assessment: Assessment) -> Hypothesis:
    return Hypothesis(
        **draft.model_dump(exclude={"related"}),
        related=_cited_works(draft.related, run.related),
        id=hypothesis_id, paper=run.paper_slug, rank=0,
        closest_work=assessment.closest_work,
        novelty_note=assessment.novelty_note,
        scores={"novelty": assessment.novelty, "feasibility": assessment.feasibility, "expected_gain": assessment.expected_gain},
        reasons=assessment.reasons,
    )


def _ranked(hypotheses: list[Hypothesis]) -> list[Hypothesis]:
    order = sorted(hypotheses, key=lambda h: -h.score)
    for rank, hypothesis in enumerate(order, start=1):
        hypothesis.rank = rank
    return order
