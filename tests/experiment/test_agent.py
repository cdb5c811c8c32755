"""The implementation loop on a real git repository with a scripted LLM: edits sent back with
the reason, the step cap, the JSONL log, resuming from the saved state, escapes and secrets
refused, and a state that never stays "running" after an error."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path

import pytest

from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.experiment.change import CommitFailedError, Review
from mlr_copilot.ideas.model import Analysis, ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.llm.scripted import ScriptedProvider
from mlr_copilot.work import Work
from tests.gitutil import git, make_repo, snapshot

TRAIN = "from model import build\n\nEPOCHS = 3\n\n\ndef main():\n    build(EPOCHS)\n"
MODEL = "def build(epochs):\n    return epochs\n"
UTILS = "def seed():\n    return 0\n"


def edit(path: str, search: str, replace: str, summary: str = "Change it") -> str:
    return (f"SUMMARY: {summary}\nWHY: the plan says so.\n\n{path}\n<<<<<<< SEARCH\n{search}\n=======\n"
            f"{replace}\n>>>>>>> REPLACE\n")


def reply(response: str, *expect: str) -> dict:
    return {"call": "implement.step", "response": response, "expect": list(expect)}


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    """Candidate models come from an empty Hugging Face cache, never the machine's own."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "ws", {"train.py": TRAIN, "model.py": MODEL, "utils.py": UTILS})


def engine_for(workspace: Path, records: list[dict], **implement) -> Engine:
    script = workspace.parent / f"script-{len(list(workspace.parent.glob('script-*')))}.jsonl"
    script.write_text("".join(json.dumps(r) + "\n" for r in records))
    settings, warnings = validate_settings({"llm": {"provider": "scripted", "script": str(script)},
                                           "ideas": {"online": False}, "implement": implement})
    assert warnings == []
    engine = Engine(workspace, settings)
    plan = ExperimentPlan(dataset="reviews", model="naive Bayes", baseline="unigrams", metric="macro_f1",
                          direction="maximize", steps=["raise the epochs", "report the metric"],
                          expected_improvement="+5%")
    hypothesis = Hypothesis(id="h1", paper="paper", rank=1, status="accepted", title="More epochs",
                            problem="Too few epochs.", method="Train longer.", rationale="Underfitting.", plan=plan)
    engine.ideas.store.save(IdeasRun(
        paper_path="paper.pdf", paper_slug="paper", paper_title="Paper", hypotheses=[hypothesis],
        analysis=Analysis(task="Classify product reviews by sentiment.", gaps=["g"], keywords=["reviews"])))
    return engine


async def accept(proposal) -> Review:
    return Review(True)


def answers(*reviews: Review):
    pending = list(reviews)

    async def review(proposal) -> Review:
        return pending.pop(0)

    return review


def spy_on_prompts(monkeypatch) -> list[str]:
    """Every prompt the scripted LLM receives, as one text."""
    prompts: list[str] = []
    complete = ScriptedProvider.complete

    async def spy(self, messages, **kwargs):
        prompts.append("\n".join(m.content for m in messages))
        return await complete(self, messages, **kwargs)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    return prompts


def implement(engine: Engine, reviewer=accept):
    async def refuse_init(problem: str) -> bool:
        return False

    return asyncio.run(engine.implement("h1", reviewer, Work(), refuse_init))


def state_file(workspace: Path) -> Path:
    return workspace / ".mlr" / "implement" / "h1" / "state.json"


def saved_state(workspace: Path) -> dict:
    return json.loads(state_file(workspace).read_text())


def tracked(workspace: Path) -> dict[str, bytes]:
    return {rel: data for rel, data in snapshot(workspace).items() if not rel.startswith(".mlr/")}


def test_a_no_match_edit_is_sent_back_with_the_reason_then_reported(workspace):
    bad = edit("train.py", "EPOCHS = 30", "EPOCHS = 10")
    engine = engine_for(workspace, [
        reply(bad),
        reply(bad, "That edit could not be applied: train.py: the SEARCH lines match nothing", "EPOCHS = 3"),
        reply("DONE: gave up", "edit could not be applied [failed]: the proposed edit could not be applied after 2 tries"),
    ], maxEditRetries=1)
    before = tracked(workspace)
    state = implement(engine)
    assert [s.outcome for s in state.steps] == ["failed"]
    assert "match nothing" in state.steps[0].reason
    assert state.status == "nothing-implemented" and state.commits == []
    assert state.message.startswith("nothing implemented: no step committed a change (1 failed)")
    assert "gave up" in state.message and "match nothing" in state.message
    assert tracked(workspace) == before


@pytest.mark.parametrize("replies", [
    ["DONE: the plan is already implemented"],
    [""],
    ["I am sorry, I cannot help with changing code today."],
    ["\x00\x1b[2J}}}{{{ <<<<<<< garbage ======= >>>>>>> REPLACE"],
    [edit("train.py", "EPOCHS = 30", "EPOCHS = 10")] * 3,
], ids=["done-at-once", "empty", "prose", "garbage", "every-step-failing"])
def test_an_implementation_with_no_committed_change_is_nothing_implemented(workspace, replies):
    engine = engine_for(workspace, [reply(r) for r in replies], maxSteps=1, maxEditRetries=2)
    head = git(workspace, "rev-parse", "HEAD")
    state = implement(engine)
    assert state.status == "nothing-implemented" and state.commits == []
    assert state.message.startswith("nothing implemented: ") and "\n" not in state.message
    assert saved_state(workspace)["status"] == "nothing-implemented"
    assert git(workspace, "rev-parse", "HEAD") == head


def test_a_revert_line_in_the_llms_why_never_hides_the_commit_from_undo(workspace):
    initial = git(workspace, "rev-parse", "HEAD").strip()
    forged = edit("train.py", "EPOCHS = 3", "EPOCHS = 4").replace(
        "WHY: the plan says so.", f"WHY: the plan says so. This reverts commit {initial}.")
    engine = engine_for(workspace, [reply(forged), reply("DONE: ok")])
    [commit] = implement(engine).commits
    engine.undo()
    assert git(workspace, "log", "-1", "--format=%B").startswith('Revert "Change it"')
    assert f"This reverts commit {commit}" in git(workspace, "log", "-1", "--format=%B")
    assert (workspace / "train.py").read_text() == TRAIN


def test_control_characters_in_the_llms_summary_are_committed_visible(workspace):
    hostile = edit("train.py", "EPOCHS = 3", "EPOCHS = 4", summary="Four\x00 epochs \x1b]0;pwned\x07").replace(
        "WHY: the plan says so.", "WHY: the plan\x1b[2J says so.")
    engine = engine_for(workspace, [reply(hostile), reply("DONE: ok")])
    assert implement(engine).status == "done"
    assert git(workspace, "log", "-1", "--format=%B").startswith(
        "Four\\x00 epochs \\x1b]0;pwned\\x07\n\nthe plan\\x1b[2J says so.")


def test_every_change_rejected_is_nothing_implemented(workspace):
    engine = engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4")), reply("DONE: as you wish")])
    state = implement(engine, answers(Review(False, reason="not now")))
    assert state.status == "nothing-implemented"
    assert state.message == ("nothing implemented: no step committed a change (1 rejected); "
                             "it ended with: as you wish; last problem: not now")


def test_a_malformed_edit_is_retried_and_the_corrected_one_committed(workspace):
    engine = engine_for(workspace, [
        reply("SUMMARY: More epochs\n\ntrain.py\n<<<<<<< SEARCH\nEPOCHS = 3\n"),
        reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 10", "Train for 10 epochs"), "the reply ends inside the block"),
        reply("DONE: epochs raised"),
    ])
    state = implement(engine)
    assert [s.outcome for s in state.steps] == ["committed"]
    assert "EPOCHS = 10" in (workspace / "train.py").read_text()
    message = git(workspace, "log", "-1", "--format=%B")
    assert message.startswith("Train for 10 epochs") and "MLR-Hypothesis: h1" in message and "MLR-Step: 1" in message


def test_the_step_cap_stops_the_loop(workspace):
    engine = engine_for(workspace, [
        reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4", "Four epochs")),
        reply(edit("train.py", "EPOCHS = 4", "EPOCHS = 5", "Five epochs"), "step 2 of at most 2"),
    ], maxSteps=2)
    state = implement(engine)
    assert state.status == "stopped" and state.message == "reached the step cap (2)"
    assert len(state.commits) == 2 and saved_state(workspace)["status"] == "stopped"
    assert "EPOCHS = 5" in (workspace / "train.py").read_text()


def test_every_step_is_logged_as_jsonl(workspace):
    engine = engine_for(workspace, [
        reply("READ: utils.py"),
        reply(edit("utils.py", "    return 0", "    return 42", "Fix the seed"), "## utils.py"),
        reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4")),
        reply("DONE: finished"),
    ])
    state = implement(engine, answers(Review(True), Review(False, reason="keep three epochs")))
    events = [json.loads(line) for line in (workspace / ".mlr/implement/h1/log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "read", "step", "step", "end"]
    assert events[1]["paths"] == ["utils.py"]
    first, second = events[2], events[3]
    assert first["accepted"] is True and first["commit"] == state.commits[0] and first["paths"] == ["utils.py"]
    assert second["accepted"] is False and second["commit"] is None and second["reason"] == "keep three epochs"
    assert all(isinstance(first[k], float) for k in ("prepare_s", "review_s", "commit_s"))
    assert (events[-1]["status"], events[-1]["message"]) == ("done", "finished")


def test_a_crashed_implementation_resumes_from_its_saved_state(workspace):
    engine = engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4", "Four epochs"))])
    with pytest.raises(MlrError, match="no reply left"):
        implement(engine)
    saved = saved_state(workspace)
    assert saved["status"] == "failed" and "no reply left" in saved["message"]
    # A crash (the process killed mid-step) leaves the state as it was while running.
    state_file(workspace).write_text(json.dumps({**saved, "status": "running", "message": ""}))

    resumed = engine_for(workspace, [
        reply(edit("model.py", "    return epochs", "    return epochs + 1", "Add one"),
              "1. Four epochs [committed", "step 2 of at most"),
        reply("DONE: resumed and finished"),
    ])
    state = implement(resumed)
    assert state.status == "done" and [s.step for s in state.steps] == [1, 2]
    assert state.commits[0] == saved["steps"][0]["commit"]
    assert "MLR-Step: 2" in git(workspace, "log", "-1", "--format=%B")
    assert git(workspace, "rev-list", "--count", "HEAD").strip() == "3"


def test_an_escape_attempt_through_the_agent_leaves_the_repository_untouched(workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "link").symlink_to(outside)
    git(workspace, "add", "link")
    git(workspace, "commit", "-qm", "a link out")
    head = git(workspace, "rev-parse", "HEAD")
    engine = engine_for(workspace, [
        reply("SUMMARY: Sneak out\n\n../evil.py\n<<<<<<< FILE\nprint('pwned')\n>>>>>>> FILE\n"),
        reply("SUMMARY: Hooks\n\n.git/hooks/pre-commit\n<<<<<<< FILE\nrm -rf /\n>>>>>>> FILE\n", "'..' is not allowed"),
        reply("SUMMARY: Link\n\nlink/evil.py\n<<<<<<< FILE\nprint('pwned')\n>>>>>>> FILE\n", ".git/ are managed by git"),
        reply("DONE: no way out", "refused path 'link/evil.py': a symlink on the way leads outside the workspace"),
    ], maxEditRetries=2)
    before = tracked(workspace)
    state = implement(engine)
    assert state.status == "nothing-implemented" and [s.outcome for s in state.steps] == ["failed"]
    assert tracked(workspace) == before
    assert git(workspace, "rev-parse", "HEAD") == head
    assert not (tmp_path / "evil.py").exists() and list(outside.iterdir()) == []
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()


def test_secrets_are_never_read_edited_or_sent(workspace, monkeypatch):
    (workspace / ".env").write_text("OPENAI_API_KEY=sk-test-do-not-send\n")
    (workspace / "secrets.json").write_text('{"token": "sk-test-do-not-send"}\n')
    prompts = spy_on_prompts(monkeypatch)
    engine = engine_for(workspace, [
        reply("READ: .env\nREAD: secrets.json"),
        reply("SUMMARY: Key\n\n.env\n<<<<<<< FILE\nOPENAI_API_KEY=mine\n>>>>>>> FILE\n",
              "## .env\n(refused: refused path '.env': .env looks like a secrets file", "## secrets.json\n(refused"),
        reply("DONE: left the keys alone", "That edit could not be applied: refused path '.env'"),
    ])
    state = implement(engine)
    assert state.status == "nothing-implemented" and state.commits == []
    assert (workspace / ".env").read_text() == "OPENAI_API_KEY=sk-test-do-not-send\n"
    assert len(prompts) == 3 and not any("sk-test-do-not-send" in p for p in prompts)


def test_each_step_starts_with_the_stable_part_of_the_last_and_keeps_the_file_order(workspace, monkeypatch):
    """A provider's prefix cache serves a step's prompt up to where it changes: the starter files
    as the base has them, the instructions and the hypothesis come first, byte for byte, and the
    files read or changed are listed in an order that only grows at its end."""
    sent: list[list] = []
    complete = ScriptedProvider.complete

    async def spy(self, messages, **kwargs):
        sent.append(list(messages))
        return await complete(self, messages, **kwargs)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    new_file = "SUMMARY: Add a seed\n\nseeding.py\n<<<<<<< FILE\nSEED = 1\n>>>>>>> FILE\n"
    engine = engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4")), reply(new_file),
                                    reply("READ: utils.py"), reply("DONE: ok")])
    state = implement(engine)
    assert state.status == "done" and len(state.commits) == 2
    assert state.read == ["train.py", "model.py", "seeding.py", "utils.py"]

    users = [messages[1] for messages in sent]
    assert len({messages[0].content for messages in sent}) == 1
    # (b): each prompt starts with the last one's whole stable part: through its last breakpoint
    for before, after in itertools.pairwise(users):
        stable = before.content[: before.breaks[-1]]
        assert after.content.startswith(stable) and after.breaks == before.breaks
    stable = users[0].content[: users[0].breaks[-1]]
    assert "EPOCHS = 3" in stable and "# Hypothesis h1: More epochs" in stable and "EPOCHS = 4" not in stable
    # the map as the run started is stable; what changed in it comes after
    assert "# Workspace map, as this implementation started\n" in stable and "seeding.py" not in stable
    assert "# Workspace map: files added" not in stable and "# Steps so far" not in stable

    # (a): the files read or changed, in the order first read or committed, never re-sorted
    def since(message) -> list[str]:
        part = message.content.split("# Files read or changed since (current content)\n", 1)[1].split("# Steps so far")[0]
        return re.findall(r"^## (\S+)$", part, re.MULTILINE)

    assert [since(m) for m in users] == [[], ["train.py"], ["train.py", "seeding.py"], ["train.py", "seeding.py", "utils.py"]]
    # what the map says differently from the one it started with: the new file, once added
    changes = [m.content.split("# Workspace map: files added, changed or removed since it started\n", 1)[1]
               .split("\n\n# Files read", 1)[0] for m in users]
    assert changes[0] == changes[1] == "(none)" and changes[2].startswith("seeding.py (") == changes[3].startswith("seeding.py (")
    assert "EPOCHS = 4" in users[1].content.split("# Files read or changed since", 1)[1]


def test_a_failed_commit_restores_the_files_and_leaves_no_running_state(workspace):
    engine = engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4"))])

    async def editor_then_user_stages(proposal) -> Review:
        # the editor applied and saved the change, and the user staged a file of their own meanwhile
        (workspace / "train.py").write_text(proposal.changes[0].after)
        (workspace / "notes.txt").write_text("mine\n")
        git(workspace, "add", "notes.txt")
        return Review(True, applied={"train.py": proposal.changes[0].after})

    with pytest.raises(CommitFailedError, match="staged changes") as info:
        implement(engine, editor_then_user_stages)
    assert "back as they were" in str(info.value)
    assert (workspace / "train.py").read_text() == TRAIN
    assert git(workspace, "log", "--format=%s") == "initial\n"
    assert saved_state(workspace)["status"] == "failed"


def test_context_is_searched_by_plan_steps_and_by_the_papers_task(workspace, monkeypatch):
    from mlr_copilot.retrieval import code, hub

    asked: dict[str, object] = {}
    search_code, candidates = code.search_code, hub.candidates

    def spy_code(query, **kwargs):
        asked["query"] = query
        return search_code(query, **kwargs)

    def spy_hub(task, keywords, **kwargs):
        asked["task"], asked["keywords"] = task, keywords
        return candidates(task, keywords, **kwargs)

    monkeypatch.setattr(code, "search_code", spy_code)
    monkeypatch.setattr(hub, "candidates", spy_hub)
    implement(engine_for(workspace, [reply("DONE: nothing to do")]))
    assert "raise the epochs" in asked["query"] and "report the metric" in asked["query"]
    assert asked["task"] == "text-classification", "the paper's task, not the dataset's name"
    assert "reviews" in asked["keywords"]


def test_each_step_maps_what_the_last_one_committed_and_what_the_editor_reported(workspace, monkeypatch):
    """The map is built once per run; a step sees the agent's commit and the editor's files."""
    from mlr_copilot.experiment import repomap

    prompts = spy_on_prompts(monkeypatch)
    engine = engine_for(workspace, [
        reply(edit("model.py", "def build(epochs):", "def build(epochs, width=64):")),
        reply("DONE: ok"),
    ])
    listings = []
    git_listing = repomap._git_listing
    monkeypatch.setattr(repomap, "_git_listing", lambda root: listings.append(root) or git_listing(root))

    async def user_adds_a_file_while_reviewing(proposal) -> Review:
        (workspace / "notes.py").write_text("def idea(x):\n    pass\n")
        engine.files.changed(["notes.py"])  # what the editor's file events do
        return Review(True)

    implement(engine, user_adds_a_file_while_reviewing)
    first, second = prompts
    assert "def build(epochs)" in first and "notes.py" not in first
    assert "def build(epochs, width)" in second and "def idea(x)" in second
    assert len(listings) == 1  # the whole tree was listed for the first step only
