"""The terminal face, run as a real process: help, doctor, paper, ideas, the demo and the
autonomous mode, and their bad inputs (a clear line on stderr, a non-zero exit, no traceback)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlr_copilot.autonomous.bundled import bundled_task, copy_task
from mlr_copilot.autonomous.demo import demo_files
from tests.pdfs import make_corrupt_pdf, make_encrypted_pdf, make_image_only_pdf, make_paper_pdf

ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("MLR_")}


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlr_copilot.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**ENV, **(env or {})}, input=stdin, timeout=600)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_help_lists_every_command():
    result = cli("--help")
    assert result.returncode == 0
    for name in ("serve", "doctor", "paper", "ideas", "implement", "undo", "run", "debug", "history", "demo", "auto", "eval"):
        assert name in result.stdout


def test_doctor_reports_machine_provider_and_workspace(tmp_path):
    result = cli("doctor", "--json", "-w", str(tmp_path))
    assert result.returncode == 0
    rows = {row["check"]: row for row in json.loads(result.stdout)}
    assert rows["python"]["finding"].startswith(sys.version.split()[0])
    assert "git version" in rows["git"]["finding"]
    assert "docker engine" in rows
    assert rows["llm provider"]["finding"].startswith("openai")
    assert rows["api key"] == {"check": "api key", "finding": "OPENAI_API_KEY is not set", "ok": False}
    assert "not a git repository" in rows["workspace"]["finding"]
    # the demo's baseline imports these with this same Python
    assert rows["scikit-learn"]["ok"] and "importable as sklearn" in rows["scikit-learn"]["finding"]
    assert "review-sentiment" in rows["numpy"]["finding"]


def test_doctor_counts_tracked_changes_only_and_names_the_image_auto_would_use(tmp_path):
    from tests.gitutil import make_repo

    repo = make_repo(tmp_path / "repo", {"train.py": "print(1)\n"})
    (repo / "research").mkdir()
    (repo / "research" / ".gitignore").write_text("*/hypotheses.md\n")  # untracked: no change
    (repo / "notes.txt").write_text("mine\n")
    result = cli("doctor", "--json", "-w", str(repo), env={"MLR_IMAGE": "mlr-no-such-image:1"})
    rows = {row["check"]: row for row in json.loads(result.stdout)}
    workspace = rows["workspace"]["finding"]
    assert "branch main, no uncommitted change to tracked files" in workspace and "##" not in workspace
    (repo / "train.py").write_text("print(2)\n")
    rows = {row["check"]: row for row in json.loads(cli("doctor", "--json", "-w", str(repo)).stdout)}
    assert "1 tracked file(s) with uncommitted changes" in rows["workspace"]["finding"]
    if rows["docker engine"]["ok"]:  # an engine answers: say whether auto finds its image
        image = {row["check"]: row for row in json.loads(result.stdout)}["docker image"]
        assert image["ok"] is False and "'mlr-no-such-image:1' is not on this machine" in image["finding"]
        assert "run.runner auto runs locally" in image["finding"]


def test_doctor_names_a_malformed_dotenv_line_and_never_echoes_keys(tmp_path):
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-secret-value\nnot a setting\n")
    result = cli("doctor", "--provider", "anthropic", "-w", str(tmp_path))
    assert result.returncode == 0
    assert ".env:2" in result.stdout + result.stderr
    assert "ANTHROPIC_API_KEY is set" in result.stdout
    assert "sk-ant-secret-value" not in result.stdout + result.stderr


def test_paper_json_has_the_documented_keys(tmp_path):
    pdf = make_paper_pdf(tmp_path / "p.pdf", columns=2)
    result = cli("paper", str(pdf), "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert {"title", "authors", "abstract", "sections", "references", "pages"} <= data.keys()
    assert data["title"] == "Revisiting Bag-of-Words Baselines for Text Classification"
    assert all(set(s) == {"heading", "text"} for s in data["sections"])
    assert data["sections"][0]["heading"] == "1 Introduction"


def test_paper_md_prints_the_outline_and_nothing_else(tmp_path):
    pdf = make_paper_pdf(tmp_path / "p.pdf", columns=2)
    result = cli("paper", str(pdf), "--md", "-w", str(tmp_path))
    assert result.returncode == 0
    assert result.stdout.startswith("# Revisiting Bag-of-Words Baselines for Text Classification\n")
    assert "\n## 1 Introduction\n" in result.stdout and "\n## References\n\n1. " in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.pdf"]


@pytest.mark.parametrize("kind, expected", [
    ("corrupt", "damaged"), ("encrypted", "encrypted"), ("scanned", "no text layer"),
    ("not-pdf", "not a PDF"), ("missing", "no such file"),
])
def test_paper_bad_input_is_one_clear_line(tmp_path, kind, expected):
    path = tmp_path / f"{kind}.pdf"
    if kind == "corrupt":
        make_corrupt_pdf(path)
    elif kind == "encrypted":
        make_encrypted_pdf(path, make_paper_pdf(tmp_path / "plain.pdf"))
    elif kind == "scanned":
        make_image_only_pdf(path)
    elif kind == "not-pdf":
        path.write_text("hello, not a paper")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli("paper", str(path), "--json")
    assert result.returncode == 2
    assert str(path) in result.stderr and expected.lower() in result.stderr.lower()
    assert result.stdout == ""
    no_traceback(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_ideas_without_a_key_names_the_variable(tmp_path):
    pdf = make_paper_pdf(tmp_path / "p.pdf")
    result = cli("ideas", str(pdf), "-w", str(tmp_path), "--offline")
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr
    no_traceback(result)
    assert not (tmp_path / "research").exists()


def test_ideas_with_recorded_replies_writes_the_document(tmp_path):
    paper, script = demo_files()
    shutil.copyfile(paper, tmp_path / "paper.pdf")
    result = cli("ideas", "paper.pdf", "--n", "3", "--provider", "scripted", "--script", str(script), "--offline",
                 "-w", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    documents = list((tmp_path / "research").glob("*/hypotheses.md"))
    assert len(documents) == 1
    assert "Word n-grams with TF-IDF" in result.stdout
    assert "online sources skipped" in documents[0].read_text()
    listed = cli("hypotheses", "--json", "-w", str(tmp_path))
    assert [h["rank"] for h in json.loads(listed.stdout)] == [1, 2, 3]


def test_demo_runs_the_whole_loop(tmp_path):
    target = tmp_path / "demo"
    result = cli("demo", "--workspace", str(target), "--runner", "local")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "scripted provider" in result.stdout
    assert "beats the baseline by at least 10%" in result.stdout
    # what a new user needs to see: the hypotheses and where they are written, the planted
    # error's own message, every branch's runs, and progress that only goes forward
    assert "Negation scope marking" in result.stdout and "Character n-grams" in result.stdout
    documents = list((target / "research").glob("*/hypotheses.md"))
    assert len(documents) == 1 and f"Hypotheses with their plans and related work: {documents[0]}" in result.stdout
    assert "failed, did not report macro_f1 (train.py:20: ValueError: X has" in result.stdout
    assert "branches main, mlr/h1-" in result.stdout
    percentages = [int(m) for m in re.findall(r"^\[ *(\d+)%\]", result.stderr, re.MULTILINE)]
    assert len(percentages) > 5 and percentages == sorted(percentages), percentages
    # research/ ignores itself: git status is as quiet as the README promises
    status = subprocess.run(["git", "status", "--porcelain"], cwd=target, capture_output=True, text=True).stdout
    assert status == ""
    log = subprocess.run(["git", "log", "--branches", "--notes=mlr", "--format=%s%n%N"], cwd=target, capture_output=True, text=True).stdout
    assert "Transform the test reviews with the fitted vectorizer" in log
    assert "\"status\":\"failed\"" in log and "\"status\":\"passed\"" in log
    again = cli("demo", "--workspace", str(target))
    assert again.returncode == 2 and "not empty" in again.stderr


def task_copy(tmp_path: Path, name: str = "digits-classification") -> Path:
    workspace = copy_task(bundled_task(name), tmp_path / "ws")
    return workspace


def test_auto_in_a_folder_without_a_task_says_so(tmp_path):
    result = cli("auto", "-w", str(tmp_path), "--provider", "scripted", "--script", str(demo_files()[1]))
    assert result.returncode == 2
    assert "no task description" in result.stderr
    no_traceback(result)
    # with a paper but still no task.toml: refused before anything is written (no git init, no .mlr/)
    with_paper = cli("auto", "--paper", str(demo_files()[0]), "-w", str(tmp_path), "--provider", "scripted",
                     "--script", str(demo_files()[1]))
    assert with_paper.returncode == 2 and with_paper.stdout == ""
    assert with_paper.stderr.count("\n") == 1 and "no task description (expected task.toml)" in with_paper.stderr
    assert list(tmp_path.iterdir()) == []


def test_auto_takes_the_command_and_metric_from_its_flags_without_a_task(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "train.py").write_text("print('METRIC loss=0.25')\nprint('METRIC accuracy=0.5')\n")
    # a dollar budget below one call: the baseline runs, then the session stops before the LLM
    result = cli("auto", "-w", str(workspace), "--paper", str(demo_files()[0]), "--command", f"{sys.executable} train.py",
                 "--metric", "loss", "--direction", "minimize", "--provider", "scripted", "--script", str(demo_files()[1]),
                 "--model", "gpt-4o-mini", "--budget", "0.0001", "--runner", "local", "--offline")
    assert "Baseline: loss = 0.25" in result.stdout, result.stdout + result.stderr
    assert "Status: budget" in result.stdout
    state = json.loads((workspace / ".mlr" / "auto" / "state.json").read_text())
    assert (state["metric"], state["direction"]) == ("loss", "minimize")
    no_traceback(result)


def test_auto_with_a_baseline_without_metric_reports_what_was_done(tmp_path):
    workspace = task_copy(tmp_path)
    (workspace / "train.py").write_text("print('training, but no metric')\n")
    result = cli("auto", "-w", str(workspace), "--provider", "scripted", "--script", str(demo_files()[1]), "--runner", "local")
    assert result.returncode == 1
    assert "did not produce the metric 'accuracy'" in result.stdout
    assert "Status: failed" in result.stdout
    no_traceback(result)


def test_auto_with_a_crashing_evaluation_script_reports_the_failure(tmp_path):
    workspace = task_copy(tmp_path)
    evaluate = workspace / "evaluate.py"
    evaluate.write_text(evaluate.read_text().replace(
        "    value = score(path)\n", "    value = score(path)\n    raise ValueError('the test labels are corrupt')\n"))
    result = cli("auto", "-w", str(workspace), "--provider", "scripted", "--script", str(demo_files()[1]), "--runner", "local")
    assert result.returncode == 1
    status = next(line for line in result.stdout.splitlines() if line.startswith("Status: failed"))
    assert "evaluate.py:" in status and "ValueError: the test labels are corrupt" in status
    assert "Not done: proposing hypotheses" in result.stdout
    no_traceback(result)


def test_auto_with_a_dollar_budget_below_one_call_sends_nothing(tmp_path):
    workspace = task_copy(tmp_path)
    # gpt-4o-mini is priced: the first call's worst case (prompt + 4096 output tokens) exceeds $0.0001
    result = cli("auto", "-w", str(workspace), "--provider", "scripted", "--script", str(demo_files()[1]),
                 "--model", "gpt-4o-mini", "--budget", "0.0001", "--runner", "local", "--offline")
    assert result.returncode == 1
    assert "Baseline: accuracy = " in result.stdout  # done
    assert "Not done: proposing hypotheses" in result.stdout  # not done
    assert "Status: budget" in result.stdout and "could cost $0.0026" in result.stdout
    assert "LLM: 0 input + 0 output tokens" in result.stdout
    assert json.loads((workspace / ".mlr" / "auto" / "ledger.json").read_text())["session"]["calls"] == 0
    no_traceback(result)


def test_auto_with_a_budget_too_small_for_one_call_stops_cleanly(tmp_path):
    workspace = task_copy(tmp_path)
    result = cli("auto", "-w", str(workspace), "--provider", "scripted", "--script", str(demo_files()[1]),
                 "--runner", "local", "--budget", "0", env={"MLR_BUDGET_TOKENS": "0"})
    assert result.returncode == 1
    assert "Status: budget" in result.stdout
    assert "Baseline: accuracy" in result.stdout  # what was done is reported
    no_traceback(result)


def test_eval_scores_attempts_by_the_ten_percent_criterion(tmp_path):
    result = cli("eval", "--tasks", "review-sentiment", "--runs", "1", "--provider", "scripted", "--script",
                 str(demo_files()[1]), "--offline", "--runner", "local", "--workdir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    summary = data["tasks"][0]
    assert summary["task"] == "review-sentiment" and summary["successes"] == 1 and summary["success_rate"] == 1.0
    attempt = data["attempts"][0]
    assert attempt["improvement"] > 0.10 and attempt["best_run"] and attempt["best_commit"]
    assert json.loads((tmp_path / "evaluation.json").read_text()) == data


def test_eval_reports_a_task_whose_data_cannot_be_prepared_apart(tmp_path):
    result = cli("eval", "--tasks", "ellipse-scoring", "--provider", "scripted", "--script", str(demo_files()[1]),
                 "--offline", "--runner", "local", "--workdir", str(tmp_path))
    assert result.returncode == 1
    assert "Not prepared, so not scored:" in result.stdout
    assert "ellipse-scoring: `python prepare.py` failed" in result.stdout and "put the files in data/" in result.stdout
    data = json.loads((tmp_path / "evaluation.json").read_text())
    assert data["tasks"] == [] and data["attempts"] == []
    assert [u["task"] for u in data["unprepared"]] == ["ellipse-scoring"]
    assert not (tmp_path / "ellipse-scoring" / "attempt-1").exists()
    no_traceback(result)


def test_eval_of_an_unknown_task_lists_the_known_ones(tmp_path):
    result = cli("eval", "--tasks", "no-such-task", "--workdir", str(tmp_path))
    assert result.returncode == 2 and "review-sentiment" in result.stderr
    no_traceback(result)


@pytest.mark.docker
def test_demo_runs_in_docker(tmp_path):
    image = os.environ.get("MLR_TEST_IMAGE", "mlr-python:bookworm")
    probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"Docker tests need an engine holding the image {image}: {probe.stderr.decode().strip()[:200]}")
    result = cli("demo", "--workspace", str(tmp_path / "demo"), "--runner", "docker", env={"MLR_IMAGE": image})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "beats the baseline by at least 10%" in result.stdout
    runs = [json.loads(p.read_text()) for p in (tmp_path / "demo" / ".mlr" / "runs").glob("*.json")]
    assert {r["runner"] for r in runs} == {"docker"} and {r["image"] for r in runs} == {image}


def split_script(tmp_path: Path, calls: set[str], name: str) -> Path:
    records = [line for line in demo_files()[1].read_text().splitlines() if json.loads(line)["call"] in calls]
    path = tmp_path / name
    path.write_text("\n".join(records) + "\n")
    return path


def test_auto_resumes_an_interrupted_session(tmp_path):
    workspace = copy_task(bundled_task("review-sentiment"), tmp_path / "ws")
    first = split_script(tmp_path, {"ideas.analyse", "ideas.generate", "ideas.assess"}, "ideas.jsonl")
    # the hypotheses' plans name another metric than the task's macro_f1: runs are still judged on the task's
    first.write_text(first.read_text().replace('"metric": "macro_f1"', '"metric": "accuracy"'))
    assert '"metric": "accuracy"' in first.read_text()
    result = cli("auto", "-w", str(workspace), "--paper", str(workspace / "paper.pdf"), "--provider", "scripted",
                 "--script", str(first), "--offline", "--runner", "local")
    assert result.returncode == 1
    assert "implement.step" in result.stdout  # the script ran out where the session stopped
    state = json.loads((workspace / ".mlr" / "auto" / "state.json").read_text())
    assert state["ideas_done"] and state["baseline"]["status"] == "passed"
    before = state["usage"]
    assert before["calls"] == 3 and before["input_tokens"] > 0
    # the rest of the replies only: resuming must not redo the baseline or the ideas
    rest = split_script(tmp_path, {"implement.step", "debug.fix"}, "rest.jsonl")
    resumed = cli("auto", "-w", str(workspace), "--resume", "--provider", "scripted", "--script", str(rest), "--runner", "local")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "beats the baseline by at least 10%" in resumed.stdout
    runs = [json.loads(p.read_text()) for p in (workspace / ".mlr" / "runs").glob("*.json")]
    assert sum(r["baseline"] for r in runs) == 1
    assert {r["primary_metric"] for r in runs} == {"macro_f1"}
    state = json.loads((workspace / ".mlr" / "auto" / "state.json").read_text())
    assert {r["metric"] for r in state["hypotheses"][0]["runs"]} == {"macro_f1"}
    # the spend before the interruption is kept: the report counts both sessions' calls
    after = state["usage"]
    assert after["calls"] == before["calls"] + len(rest.read_text().splitlines())
    for task, totals in before["tasks"].items():
        assert after["tasks"][task] == totals
    assert after["input_tokens"] > before["input_tokens"]
    assert f"LLM: {after['input_tokens']} input + {after['output_tokens']} output tokens" in resumed.stdout


def test_refine_reads_feedback_written_in_the_document(tmp_path):
    paper, script = demo_files()
    shutil.copyfile(paper, tmp_path / "paper.pdf")
    refine = {"title": "Character n-grams with logistic regression", "problem": "p", "method": "m", "rationale": "r",
              "plan": {"dataset": "d", "model": "m", "baseline": "b", "metric": "macro_f1", "direction": "maximize",
                       "steps": ["s"], "expected_improvement": "+5%"}, "related": []}
    assess = {"assessments": [{"index": 1, "closest_work": "none", "novelty_note": "n", "novelty": 5, "feasibility": 5,
                               "expected_gain": 5, "reasons": "r"}]}
    own = tmp_path / "script.jsonl"
    own.write_text(script.read_text() + json.dumps({"call": "ideas.refine", "response": refine, "expect": ["use logistic regression"]})
                   + "\n" + json.dumps({"call": "ideas.assess", "response": assess}) + "\n")
    common = ("--provider", "scripted", "--script", str(own), "--offline", "-w", str(tmp_path))
    assert cli("ideas", "paper.pdf", "--n", "3", *common, cwd=tmp_path).returncode == 0
    document = next((tmp_path / "research").glob("*/hypotheses.md"))
    text = document.read_text().replace("<!-- mlr:hypothesis h3 -->", "<!-- mlr:hypothesis h3 -->\nFeedback: use logistic regression")
    document.write_text(text)
    assert cli("accept", "h1", *common).returncode == 0  # a re-render keeps the pending feedback
    assert "Feedback: use logistic regression" in document.read_text()
    result = cli("refine", "h3", *common)
    assert result.returncode == 0, result.stderr
    assert "Character n-grams with logistic regression" in result.stdout
    assert "Feedback: use logistic regression" not in document.read_text()  # consumed
    assert "refined: use logistic regression" in document.read_text()


def test_phases_fill_their_range_so_progress_never_goes_back():
    from mlr_copilot.work import Work

    seen: list[int | None] = []
    work = Work(report=lambda message, percentage=None: seen.append(percentage))
    work.say("start", 0)
    ideas = work.phase(10, 30)
    for percentage in (5, 15, 35, 95, 100, 250):  # a nested step's own scale, even past 100
        ideas.say("step", percentage)
    ideas.say("no number")
    run = work.phase(30, 100).phase(50, 100)  # nested twice
    run.say("end", 0)
    run.say("end", 100)
    numbers = [p for p in seen if p is not None]
    assert numbers == sorted(numbers) and numbers[0] == 0 and numbers[-1] == 100 and None in seen
    assert min(numbers[1:7]) >= 10 and max(numbers[1:7]) <= 30


def test_readme_and_demo_help_name_the_same_flags():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    usage = re.search(r"`mlr-copilot demo (\[[^`]*)`", readme).group(1)
    documented = set(re.findall(r"--?[a-z][a-z-]*", usage))
    offered = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", cli("demo", "--help").stdout)) - {"-h", "--help", "-w"}
    assert documented == offered, (documented, offered)
