"""The fuzz suite's figures: for each call kind, the hostile cases tried and those handled (a
clear one-line error or a clean retry, with the workspace, git and `.mlr/` state consistent
and the next command working), printed at the end of the session."""

from __future__ import annotations

from collections import defaultdict

import pytest

# per call kind: cases tried, handled, and known defects left to another part of the issue (xfail)
FIGURES: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    kind = getattr(item, "callspec", None) and item.callspec.params.get("kind")
    if item.module.__name__.endswith("test_fuzz_cli"):
        kind = "cli processes"
    if kind and report.when == "call":
        FIGURES[kind][0] += 1
        FIGURES[kind][1] += report.passed
        FIGURES[kind][2] += hasattr(report, "wasxfail")


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("fuzz: hostile LLM replies")
    for kind, figures in sorted(FIGURES.items()) + [("all", [sum(c) for c in zip(*FIGURES.values())])]:
        tried, handled, known = figures
        terminalreporter.write_line(f"{kind:<16} {tried:4d} tried / {handled:4d} handled"
                                    + (f" ({known} known: see their xfail reason)" if known else ""))


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    """Candidate models come from an empty Hugging Face cache, never the machine's own."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
