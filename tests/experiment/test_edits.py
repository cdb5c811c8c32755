import os
import subprocess

import pytest
from pydantic import TypeAdapter

from mlr_copilot.errors import MlrError
from mlr_copilot.experiment.edit_blocks import (
    DeleteFile,
    Edit,
    EditAmbiguousError,
    EditNoMatchError,
    EditTargetError,
    FileChange,
    MalformedEditError,
    SearchReplace,
    StaleEditError,
    WholeFile,
    parse_edits,
)
from mlr_copilot.experiment.edits import apply_edits, content_sha256, unified_diff, write_changes
from mlr_copilot.workspace.paths import EditEscapeError

TRAIN = """import torch


def train(model, loader):
    for batch in loader:
        loss = model(batch)
        loss.backward()
    return model


def evaluate(model, loader):
    return 0.0
"""


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "train.py").write_text(TRAIN)
    return root


def sr(path, search, replace):
    return SearchReplace(path=path, search=search, replace=replace)


# -- parsing ------------------------------------------------------------------------------


def test_parse_blocks_of_every_kind():
    reply = """I will lower the learning rate and add a config.

train.py
```python
<<<<<<< SEARCH
lr = 0.1
=======
lr = 0.01
>>>>>>> REPLACE
```

<<<<<<< SEARCH
epochs = 1
=======
epochs = 10

>>>>>>> REPLACE

**configs/base.yaml**
<<<<<<< FILE
lr: 0.01
>>>>>>> FILE

Remove the old script in `old/run.py`:
<<<<<<< DELETE
>>>>>>> DELETE
"""
    assert parse_edits(reply) == [
        SearchReplace(path="train.py", search="lr = 0.1\n", replace="lr = 0.01\n"),
        SearchReplace(path="train.py", search="epochs = 1\n", replace="epochs = 10\n\n"),
        WholeFile(path="configs/base.yaml", content="lr: 0.01\n"),
        DeleteFile(path="old/run.py"),
    ]


@pytest.mark.parametrize(
    "line", ["src/a.py", "`src/a.py`", "**src/a.py**", "### src/a.py", "File: src/a.py", "Edit `src/a.py`:"]
)
def test_path_line_variants(line):
    [edit] = parse_edits(f"{line}\n<<<<<<< FILE\nx\n>>>>>>> FILE\n")
    assert edit.path == "src/a.py"


def test_parse_empty_sections_and_crlf_reply():
    reply = "new.py\r\n<<<<<<< SEARCH\r\n=======\r\nx = 1\r\n>>>>>>> REPLACE\r\n"
    assert parse_edits(reply) == [SearchReplace(path="new.py", search="", replace="x = 1\n")]
    assert parse_edits("no edits here, the code is fine") == []


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n", "no file path"),
        ("Here is the change\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n", "expected a file path"),
        ("a.py\n<<<<<<< SEARCH\na\nb\n", "has no '======='"),
        ("a.py\n<<<<<<< SEARCH\na\n=======\nb\n", "has no '>>>>>>> REPLACE'"),
        ("a.py\n<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n", "has no '======='"),
        ("a.py\n<<<<<<< SEARCH\na\n=======\nb\nb.py\n<<<<<<< SEARCH\n", "has no '>>>>>>> REPLACE'"),
        ("a.py\n<<<<<<< FILE\ncontent\n", "has no '>>>>>>> FILE'"),
        ("text\n>>>>>>> REPLACE\n", "without a matching opening"),
        ("a.py\n<<<<<<< DELETE\nsomething\n>>>>>>> DELETE\n", "must be empty"),
    ],
)
def test_malformed_replies_name_the_reason(reply, reason):
    with pytest.raises(MalformedEditError, match=reason) as info:
        parse_edits(reply)
    assert isinstance(info.value, MlrError)


def test_edits_round_trip_through_json():
    edits = [sr("a.py", "x\n", "y\n"), WholeFile(path="b.py", content="z\n"), DeleteFile(path="c.py")]
    adapter = TypeAdapter(list[Edit])
    assert adapter.validate_json(adapter.dump_json(edits)) == edits
    change = FileChange(path="a.py", before=None, after="x\n")
    assert FileChange.model_validate_json(change.model_dump_json()) == change


# -- applying -----------------------------------------------------------------------------


def test_exact_match(ws):
    search = "def evaluate(model, loader):\n    return 0.0\n"
    [change] = apply_edits(ws, [sr("train.py", search, search.replace("0.0", "1.0"))])
    assert change.path == "train.py"
    assert change.before == TRAIN
    assert change.after == TRAIN.replace("return 0.0", "return 1.0")
    assert (ws / "train.py").read_text() == TRAIN  # computed in memory only


def test_whitespace_tolerant_match_reindents_the_replacement(ws):
    search = "for batch in loader:  \n    loss = model(batch)\n"  # no indent, trailing spaces
    replace = "for batch in loader:\n    loss = model(batch)\n    loss = loss.mean()\n"
    [change] = apply_edits(ws, [sr("train.py", search, replace)])
    assert "        loss = model(batch)\n        loss = loss.mean()\n        loss.backward()" in change.after
    assert change.after.count("for batch in loader:") == 1


def test_whitespace_tolerance_requires_consistent_indentation(ws):
    search = "for batch in loader:\nloss = model(batch)\n"  # relative indentation differs
    with pytest.raises(EditNoMatchError):
        apply_edits(ws, [sr("train.py", search, "x\n")])


def test_no_match_shows_path_and_closest_lines(ws):
    with pytest.raises(EditNoMatchError) as info:
        apply_edits(ws, [sr("train.py", "def evaluate(model, data):\n    return 0.5\n", "pass\n")])
    message = str(info.value)
    assert "train.py" in message
    assert "closest lines are 11-12" in message
    assert "def evaluate(model, loader):" in message
    assert info.value.path == "train.py"


def lines_of(count, salt=""):
    return "".join(f"    value_{i} = compute(batch_{i % 97}){salt}\n" for i in range(count))


@pytest.fixture
def compared(monkeypatch):
    """The windows of the file the closest-lines hint compares with the SEARCH."""
    import difflib

    seen = []
    original = difflib.SequenceMatcher.set_seq1

    def spy(self, a):
        if a:  # the constructor sets an empty one
            seen.append(a)
        return original(self, a)

    monkeypatch.setattr(difflib.SequenceMatcher, "set_seq1", spy)
    return seen


@pytest.mark.parametrize("file_lines, search_lines", [(25_000, 20_000), (70_000, 50)])
def test_the_closest_lines_hint_is_bounded_whatever_the_sizes(ws, compared, file_lines, search_lines):
    from mlr_copilot.experiment import edit_match as edits

    (ws / "big.py").write_text(lines_of(file_lines))
    with pytest.raises(EditNoMatchError) as info:
        apply_edits(ws, [sr("big.py", lines_of(search_lines, "  # changed"), "pass\n")])
    assert 0 < len(compared) <= edits.HINT_WINDOWS
    assert all(len(window) <= edits.HINT_CHARS for window in compared)
    shown = str(info.value).split("\n")[1:]
    assert 0 < len(shown) <= edits.HINT_LINES


def test_the_closest_lines_hint_still_finds_the_near_miss_in_a_large_file(ws):
    text = lines_of(70_000).replace("    value_50000 = compute(batch_45)\n", "    value_50000 = compute(batch_45, fast=True)\n")
    (ws / "big.py").write_text(text)
    search = "    value_49999 = compute(batch_44)\n    value_50000 = compute(batch_45, fast=False)\n"
    with pytest.raises(EditNoMatchError, match="closest lines are 50000-50001"):
        apply_edits(ws, [sr("big.py", search, "pass\n")])


def test_a_cancelled_edit_skips_the_closest_lines_search(ws, compared):
    import threading

    (ws / "big.py").write_text(lines_of(70_000))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EditNoMatchError, match="closest lines"):
        apply_edits(ws, [sr("big.py", lines_of(50, "  # changed"), "pass\n")], cancel)
    assert compared == []


def test_a_search_found_in_many_places_is_ambiguous_and_counted(ws):
    (ws / "same.py").write_text("x = 1\n" * 30_000)
    with pytest.raises(EditAmbiguousError, match="match 28001 places"):
        apply_edits(ws, [sr("same.py", "x = 1\n" * 2_000, "y = 2\n")])
    (ws / "indented.py").write_text("    x = 1\n" * 300)
    with pytest.raises(EditAmbiguousError, match="match 299 places"):
        apply_edits(ws, [sr("indented.py", "x = 1\nx = 1\n", "y = 2\n")])


def test_ambiguous_match_is_refused(ws):
    (ws / "dup.py").write_text("x = 1\ny = 2\nx = 1\n")
    with pytest.raises(EditAmbiguousError, match="2 places"):
        apply_edits(ws, [sr("dup.py", "x = 1\n", "x = 3\n")])
    [change] = apply_edits(ws, [sr("dup.py", "y = 2\nx = 1\n", "y = 2\nx = 3\n")])
    assert change.after == "x = 1\ny = 2\nx = 3\n"


def test_sections_without_final_newline(ws):
    [change] = apply_edits(ws, [sr("train.py", "    return 0.0", "    return 2.0")])
    assert change.after.endswith("    return 2.0\n")


def test_match_is_by_whole_lines(ws):
    (ws / "a.py").write_text("total_lr = 1\nlr = 2\n")
    [change] = apply_edits(ws, [sr("a.py", "lr = 2\n", "lr = 3\n")])
    assert change.after == "total_lr = 1\nlr = 3\n"


def test_new_file_by_empty_search_or_file_block(ws):
    changes = apply_edits(
        ws,
        [sr("pkg/new.py", "", "a = 1\n"), WholeFile(path="pkg/other.py", content="b = 2\n")],
    )
    assert changes == [
        FileChange(path="pkg/new.py", before=None, after="a = 1\n"),
        FileChange(path="pkg/other.py", before=None, after="b = 2\n"),
    ]
    assert changes[0].created and not changes[0].deleted
    assert not (ws / "pkg").exists()


def test_empty_search_fills_an_empty_file_but_not_a_full_one(ws):
    (ws / "empty.py").write_text("")
    [change] = apply_edits(ws, [sr("empty.py", "", "x = 1\n")])
    assert change.after == "x = 1\n"
    with pytest.raises(EditAmbiguousError, match="already has content"):
        apply_edits(ws, [sr("train.py", "", "x = 1\n")])


def test_search_in_missing_file(ws):
    with pytest.raises(EditNoMatchError, match="does not exist"):
        apply_edits(ws, [sr("missing.py", "x\n", "y\n")])


def test_edits_to_one_file_compose_in_order(ws):
    edits = [
        sr("train.py", "import torch\n", "import torch\nimport math\n"),
        sr("train.py", "import math\n", "import math\nimport os\n"),  # sees the first edit
        sr("train.py", "    return 0.0\n", "    return math.pi\n"),
    ]
    [change] = apply_edits(ws, edits)
    assert change.after.startswith("import torch\nimport math\nimport os\n")
    assert change.after.endswith("    return math.pi\n")


def test_create_then_edit_then_delete(ws):
    changes = apply_edits(
        ws,
        [
            WholeFile(path="tmp.py", content="a = 1\n"),
            sr("tmp.py", "a = 1\n", "a = 2\n"),
            DeleteFile(path="train.py"),
        ],
    )
    assert changes == [
        FileChange(path="tmp.py", before=None, after="a = 2\n"),
        FileChange(path="train.py", before=TRAIN, after=None),
    ]
    assert changes[1].deleted


def test_no_op_edit_yields_no_change(ws):
    assert apply_edits(ws, [sr("train.py", "import torch\n", "import torch\n")]) == []


def test_crlf_files_keep_their_line_endings(ws):
    (ws / "win.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    [change] = apply_edits(ws, [sr("win.py", "b = 2\n", "b = 3\nc = 4\n")])
    assert change.after == "a = 1\r\nb = 3\r\nc = 4\r\n"


def test_file_without_final_newline(ws):
    (ws / "n.py").write_text("a = 1\nb = 2")
    [change] = apply_edits(ws, [sr("n.py", "a = 1\n", "a = 5\n")])
    assert change.after == "a = 5\nb = 2"


@pytest.mark.parametrize("path", ["../x.py", "/tmp/x.py", ".git/config", ".mlr/state.json", "a\x00b.py"])
def test_apply_refuses_paths_outside_the_workspace(ws, path):
    with pytest.raises(EditEscapeError):
        apply_edits(ws, [WholeFile(path=path, content="x\n")])


def test_symlink_out_of_the_workspace_is_refused(ws, tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    os.symlink(outside, ws / "link.py")
    with pytest.raises(EditEscapeError):
        apply_edits(ws, [sr("link.py", "x = 1\n", "x = 2\n")])
    assert outside.read_text() == "x = 1\n"


def test_binary_large_and_folder_targets_are_refused(ws):
    (ws / "weights.py").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(EditTargetError, match="not UTF-8"):
        apply_edits(ws, [sr("weights.py", "x\n", "y\n")])
    with open(ws / "huge.py", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse
    with pytest.raises(EditTargetError, match="too large"):
        apply_edits(ws, [sr("huge.py", "x\n", "y\n")])
    (ws / "pkg").mkdir()
    with pytest.raises(EditTargetError, match="not a regular file"):
        apply_edits(ws, [WholeFile(path="pkg", content="x\n")])


# -- writing ------------------------------------------------------------------------------


def test_write_changes_writes_creates_and_deletes(ws):
    (ws / "old.py").write_text("old\n")
    os.chmod(ws / "train.py", 0o755)
    changes = apply_edits(
        ws,
        [
            sr("train.py", "import torch\n", "import numpy\n"),
            WholeFile(path="a/b/new.py", content="n\n"),
            DeleteFile(path="old.py"),
        ],
    )
    write_changes(ws, changes, expected={c.path: content_sha256(c.before) for c in changes})
    assert (ws / "train.py").read_text().startswith("import numpy\n")
    assert os.stat(ws / "train.py").st_mode & 0o777 == 0o755
    assert (ws / "a" / "b" / "new.py").read_text() == "n\n"
    assert not (ws / "old.py").exists()
    assert not [p for p in ws.rglob("*.mlr-tmp")]


def test_stale_edit_writes_nothing(ws):
    (ws / "other.py").write_text("a = 1\n")
    changes = apply_edits(
        ws,
        [
            sr("other.py", "a = 1\n", "a = 2\n"),
            sr("train.py", "import torch\n", "import jax\n"),
            WholeFile(path="new.py", content="x\n"),
        ],
    )
    (ws / "train.py").write_text(TRAIN + "# the user typed this meanwhile\n")
    with pytest.raises(StaleEditError, match="train.py") as info:
        write_changes(ws, changes)
    assert isinstance(info.value, MlrError)
    assert (ws / "other.py").read_text() == "a = 1\n"
    assert (ws / "train.py").read_text().endswith("# the user typed this meanwhile\n")
    assert not (ws / "new.py").exists()


def test_new_file_that_appeared_meanwhile_is_stale(ws):
    changes = apply_edits(ws, [WholeFile(path="new.py", content="x\n")])
    (ws / "new.py").write_text("the user's file\n")
    with pytest.raises(StaleEditError):
        write_changes(ws, changes)
    assert (ws / "new.py").read_text() == "the user's file\n"


def test_expected_hash_mismatch_is_stale(ws):
    changes = apply_edits(ws, [sr("train.py", "import torch\n", "import jax\n")])
    with pytest.raises(StaleEditError):
        write_changes(ws, changes, expected={"train.py": content_sha256("something else")})
    assert (ws / "train.py").read_text() == TRAIN


def test_unified_diff_applies_with_git(ws):
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    (ws / "gone.py").write_text("bye\n")
    (ws / "tail.py").write_text("a\nb")
    changes = apply_edits(
        ws,
        [
            sr("train.py", "    return 0.0\n", "    return 1.0\n"),
            WholeFile(path="new.py", content="x = 1\n"),
            DeleteFile(path="gone.py"),
            sr("tail.py", "b\n", "c\n"),
        ],
    )
    diff = unified_diff(changes)
    assert "--- a/train.py\n+++ b/train.py\n" in diff
    assert "--- /dev/null\n+++ b/new.py\n" in diff
    assert "--- a/gone.py\n+++ /dev/null\n" in diff
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=ws, input=diff, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr
    subprocess.run(["git", "apply", "-"], cwd=ws, input=diff, text=True, check=True)
    for change in changes:
        target = ws / change.path
        assert (target.read_text() if target.exists() else None) == change.after
