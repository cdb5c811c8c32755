"""The append-only journal (`store.JournalWriter`, `store.load`) and the node refs
(`store.RefKeeper`): a save appends only what changed; a kill in the middle of an append loses
no save that had returned and leaves a journal that reads; damage before the last line is one
clear line; a session saved as journal.json still resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlr_copilot.errors import MlrError
from mlr_copilot.search import store
from mlr_copilot.search.model import Journal, Node
from tests.gitutil import commit, git, make_repo

SERVER = Path(__file__).resolve().parents[2] / "server"
SESSION = "20260101-120000"


def journal(nodes: int = 0) -> Journal:
    made = Journal(session=SESSION, metric="score", direction="maximize", base_branch="main", base_commit="a" * 40,
                   branch=f"mlr-search/{SESSION}")
    for _ in range(nodes):
        grow(made)
    return made


def grow(made: Journal) -> Node:
    node = Node(id=made.next_id(), operator="improve", commit="b" * 40, summary=f"step {len(made.nodes)}",
                parent=made.nodes[-1].id if made.nodes else None)
    made.nodes.append(node)
    return node


def lines(ws: Path) -> list[dict]:
    return [json.loads(line) for line in store.journal_path(ws, SESSION).read_text().splitlines()]


def test_a_save_appends_only_the_fields_and_nodes_that_changed(tmp_path):
    saved, writer = journal(40), store.JournalWriter(tmp_path, SESSION)
    writer.save(saved)
    saved.nodes[3].status, saved.nodes[3].value, saved.message = "passed", 0.7, "going"
    writer.save(saved)
    new = grow(saved)
    writer.save(saved)
    writer.save(saved)  # nothing changed: nothing appended
    first, changed, added = lines(tmp_path)
    assert len(first["nodes"]) == 40 and first["journal"]["session"] == SESSION
    assert [n["id"] for n in changed["nodes"]] == ["n004"] and set(changed["journal"]) <= {"message", "usage", "elapsed_s"}
    assert [n["id"] for n in added["nodes"]] == [new.id] and "message" not in added["journal"]
    assert store.load(tmp_path, SESSION) == saved


def test_a_torn_last_line_is_left_out_and_the_next_writer_rewrites_the_file(tmp_path):
    saved, writer = journal(3), store.JournalWriter(tmp_path, SESSION)
    writer.save(saved)
    saved.nodes[0].status = "passed"
    writer.save(saved)
    before = saved.model_copy(deep=True)
    grow(saved)
    saved.nodes[1].status = "running"
    writer.save(saved)
    path = store.journal_path(tmp_path, SESSION)
    whole = path.read_bytes()
    cut = whole.rindex(b"\n", 0, len(whole) - 1) + 1  # where the last save's line starts
    for end in (cut + 1, (cut + len(whole)) // 2, len(whole) - 2):
        path.write_bytes(whole[:end])  # as if killed in the middle of that append
        assert store.load(tmp_path, SESSION) == before  # every save that had returned, nothing half
    resumed = store.load(tmp_path, SESSION)
    grow(resumed)
    store.JournalWriter(tmp_path, SESSION).save(resumed)  # the resumed search's first save
    assert len(path.read_text().splitlines()) == 1 and store.load(tmp_path, SESSION) == resumed


def test_a_writer_whose_file_was_changed_by_another_hand_rewrites_it(tmp_path):
    saved, writer = journal(2), store.JournalWriter(tmp_path, SESSION)
    writer.save(saved)
    with store.journal_path(tmp_path, SESSION).open("ab") as handle:
        handle.write(b'{"journal": {"mess')  # an append that failed half-way
    saved.nodes[1].status = "failed"
    writer.save(saved)
    assert store.load(tmp_path, SESSION) == saved and len(lines(tmp_path)) == 1


def test_damage_before_the_last_line_is_one_clear_line(tmp_path):
    saved, writer = journal(2), store.JournalWriter(tmp_path, SESSION)
    writer.save(saved)
    saved.message = "a"
    writer.save(saved)
    path = store.journal_path(tmp_path, SESSION)
    first, second = path.read_text().splitlines()
    path.write_text(f"{first[:-5]}\n{second}\n")
    with pytest.raises(MlrError, match=r"journal\.jsonl cannot be read \(line 1: ") as caught:
        store.load(tmp_path, SESSION)
    assert "\n" not in str(caught.value)
    path.write_text("{not json\n")  # a single line is a snapshot: it is never a torn append
    with pytest.raises(MlrError, match="cannot be read"):
        store.load(tmp_path, SESSION)


def test_appends_are_folded_into_a_snapshot_so_the_file_stays_near_the_journals_size(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "COMPACT_MIN_BYTES", 4096)
    saved, writer = journal(20), store.JournalWriter(tmp_path, SESSION)
    path = store.journal_path(tmp_path, SESSION)
    for step in range(300):
        saved.nodes[step % 20].summary = f"changed {step}"
        saved.message = f"step {step}"
        writer.save(saved)
        snapshot = len(json.dumps({"journal": {}, "nodes": [n.model_dump(mode="json") for n in saved.nodes]}))
        assert path.stat().st_size < 2 * snapshot + 4096 + 2000
    assert len(lines(tmp_path)) < 300 and store.load(tmp_path, SESSION) == saved


def test_a_session_saved_as_journal_json_resumes_and_is_then_kept_as_jsonl(tmp_path):
    saved = journal(2)
    old = store.journal_path(tmp_path, SESSION).with_name("journal.json")
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(saved.model_dump(mode="json"), indent=2))
    assert store.load(tmp_path, SESSION) == saved and store.latest_session(tmp_path) == SESSION
    grow(saved)
    store.JournalWriter(tmp_path, SESSION).save(saved)
    assert not old.exists() and store.load(tmp_path, SESSION) == saved


WRITER = """
import sys
from pathlib import Path
from tests.search.test_journal_store import grow, journal
from mlr_copilot.search import store

saved, writer = journal(), store.JournalWriter(Path(sys.argv[1]), sys.argv[2])
while True:
    node = grow(saved)
    node.summary = "x" * 3000  # long lines: a kill lands inside a write more often
    writer.save(saved)
    node.status = "passed"
    writer.save(saved)
    print(node.id, flush=True)
"""


def test_kill_9_in_the_middle_of_saves_loses_no_saved_node(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SERVER), str(SERVER.parent)])}
    for attempt in range(4):
        session = f"20260101-12000{attempt}"
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), session], env=env,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        reported = [child.stdout.readline().strip() for _ in range(20 + 15 * attempt)]
        time.sleep(0.003 * attempt)
        child.send_signal(signal.SIGKILL)
        child.wait()
        reported += child.stdout.read().split()
        child.stdout.close()
        killed = store.load(tmp_path, session)
        passed = [n.id for n in killed.nodes if n.status == "passed"]
        # every node the writer said was saved passed is there, passed; at most the one after it is pending
        assert passed[:len(reported)] == reported and len(killed.nodes) - len(passed) <= 1
        grow(killed)
        store.JournalWriter(tmp_path, session).save(killed)  # the resumed search's first save
        assert store.load(tmp_path, session) == killed


def test_node_refs_are_kept_by_one_git_process_and_a_bad_commit_is_one_line(tmp_path):
    ws = make_repo(tmp_path / "ws")
    first = git(ws, "rev-parse", "HEAD").strip()
    second = commit(ws, {"a.py": "A = 1\n"}, "a")
    refs = store.RefKeeper(ws)
    try:
        refs.keep(SESSION, "n001", first)
        with pytest.raises(MlrError, match=r"could not keep node n002 at 0123456789ab: ") as caught:
            refs.keep(SESSION, "n002", "0123456789abcdef0123456789abcdef01234567")
        assert "\n" not in str(caught.value)
        refs.keep(SESSION, "n003", second)
        refs.keep(SESSION, "n001", second)  # moved, as a resumed search may
    finally:
        refs.close()
    kept = git(ws, "for-each-ref", "--format=%(refname) %(objectname)", f"refs/mlr/search/{SESSION}/").split("\n")
    assert kept[:-1] == [f"refs/mlr/search/{SESSION}/n001 {second}", f"refs/mlr/search/{SESSION}/n003 {second}"]
