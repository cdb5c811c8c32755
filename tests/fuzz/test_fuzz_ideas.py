"""Hostile replies to the ideas calls (`ideas.analyse`, `ideas.generate`, the assessment
`ideas.assess`, `ideas.refine`), through the engine in-process. Each case is tried as a
"retry" (the hostile reply, then the recorded one: the run must succeed) and as "twice" (the
hostile reply both times: a clear one-line error, or the reply was harmless). Either way the
saved state loads, the document renders without forged markers, and the next commands work."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import shutil
from pathlib import Path

import pytest

from mlr_copilot.autonomous.demo import demo_files
from mlr_copilot.cli.output import print_hypotheses, say
from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.ideas import document
from mlr_copilot.llm.base import ScriptError
from mlr_copilot.work import Work

from .mutations import SEED, json_cases, recorded

REPLIES = recorded()
DRAFT = {**REPLIES["ideas.generate"][0]["hypotheses"][0], "title": "Word n-grams, refined"}
ONE_ASSESSMENT = {"assessments": [{**REPLIES["ideas.assess"][0]["assessments"][0], "index": 1}]}
VALID = {
    "ideas.analyse": REPLIES["ideas.analyse"][0],
    "ideas.generate": REPLIES["ideas.generate"][0],
    "ideas.assess": REPLIES["ideas.assess"][0],
    "ideas.refine": DRAFT,
}
CASES = [
    pytest.param(kind, variant, reply, id=f"{kind}-{variant}-{name}")
    for kind in VALID
    for name, reply in json_cases(VALID[kind], random.Random(f"{SEED}-{kind}"))
    for variant in ("retry", "twice")
]


@pytest.fixture(scope="module")
def paper():
    from mlr_copilot.paper import parse_pdf

    return parse_pdf(demo_files()[0])


def engine_with(workspace: Path, replies: list[tuple[str, object]]) -> Engine:
    script = workspace.parent / "script.jsonl"
    script.write_text("".join(json.dumps({"call": call, "response": response}) + "\n" for call, response in replies))
    settings, _ = validate_settings({"llm": {"provider": "scripted", "script": str(script)},
                                     "ideas": {"online": False, "hypotheses": 3}})
    return Engine(workspace, settings)


@pytest.fixture(scope="module")
def proposed(tmp_path_factory, paper) -> Path:
    """A workspace whose hypotheses were proposed from the recorded replies (for refine)."""
    workspace = tmp_path_factory.mktemp("proposed") / "ws"
    workspace.mkdir()
    engine = engine_with(workspace, [(c, VALID[c]) for c in ("ideas.analyse", "ideas.generate", "ideas.assess")])
    asyncio.run(engine.propose_hypotheses(paper, Work()))
    return workspace


def script_for(kind: str, variant: str, reply: str) -> list[tuple[str, object]]:
    hostile = [(kind, reply), (kind, VALID[kind] if variant == "retry" else reply)]
    if kind == "ideas.refine":
        return hostile + [("ideas.assess", ONE_ASSESSMENT)]
    order = ("ideas.analyse", "ideas.generate", "ideas.assess")
    return [step for call in order for step in (hostile if call == kind else [(call, VALID[call])])]


def shown(fn, *args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args)
    return out.getvalue()


def check_state(workspace: Path) -> None:
    """Everything saved loads, the document has one marker per hypothesis and no forged
    feedback, and the next commands (list, accept, show) work and print no raw control code."""
    for path in (workspace / ".mlr").rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    engine = Engine(workspace, validate_settings({"ideas": {"online": False}})[0])
    hypotheses = engine.hypotheses()
    printed = shown(print_hypotheses, hypotheses)
    for doc in (workspace / "research").glob("*/hypotheses.md"):
        text = doc.read_text(encoding="utf-8")
        assert sorted(h for h, _ in document.marker_lines(text)) == sorted(h.id for h in hypotheses)
        assert document.pending_feedback(text) == {}
        assert "\x1b" not in text
    if hypotheses:
        decided = engine.decide(hypotheses[0].id, "accepted", "fuzz")
        printed += shown(say, f"{decided.id} {decided.status}: {decided.title}")
    assert "\x1b" not in printed and "\x07" not in printed and "\x9b" not in printed


@pytest.mark.parametrize("kind, variant, reply", CASES)
def test_hostile_ideas_reply(kind, variant, reply, tmp_path, paper, proposed):
    workspace = tmp_path / "ws"
    if kind == "ideas.refine":
        shutil.copytree(proposed, workspace)
    else:
        workspace.mkdir()
    engine = engine_with(workspace, script_for(kind, variant, reply))
    work = Work()
    try:
        if kind == "ideas.refine":
            asyncio.run(engine.refine("h1", "simpler, please", work))
        else:
            asyncio.run(engine.propose_hypotheses(paper, work))
        failure = None
    except MlrError as exc:
        failure = str(exc)
    assert not isinstance(failure, ScriptError)
    if failure is not None:
        assert variant == "twice", f"the recorded reply after a hostile one must be taken: {failure}"
        assert "\n" not in failure and failure.startswith(f"The reply to '{kind}' did not validate: ")
        assert len(failure) < 2000
    check_state(workspace)
