from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from mlr_copilot.retrieval import library as library_module
from mlr_copilot.retrieval.errors import RetrievalCancelled, RetrievalError
from mlr_copilot.retrieval.library import Library
from tests.retrieval.conftest import write_paper


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("protein structure prediction with attention", "folding.pdf"),
        ("graph neural network molecules solubility", "graphs.pdf"),
        ("self-supervised satellite imagery", "vision.pdf"),
        ("speech recognition for low-resource languages", "speech.pdf"),
    ],
)
def test_search_ranks_the_matching_paper_first(library_dir: Path, tmp_path: Path, query: str, expected: str):
    works = Library(library_dir, tmp_path / "cache").search(query, k=4)
    assert works[0].id == f"library:{expected}"
    assert works[0].source == "library"
    assert works[0].url == (library_dir / expected).resolve().as_uri()
    assert all(a.score >= b.score for a, b in itertools.pairwise(works))


def test_title_and_abstract_are_extracted(library_dir: Path, tmp_path: Path):
    (work,) = Library(library_dir, tmp_path / "cache").search("phoneme adapters", k=1)
    assert work.title == "Low-Resource Speech Recognition with Phoneme Adapters"
    assert work.abstract.startswith("Adapter layers trained on phoneme targets")
    assert "Introduction" not in work.abstract


def test_title_falls_back_to_first_line_without_metadata(tmp_path: Path):
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    for line in ["Published as a conference paper at ICLR 2024", "Curriculum Learning for Symbolic Regression",
                 "Abstract", "We order equations by difficulty."]:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    folder = tmp_path / "lib"
    folder.mkdir()
    pdf.output(str(folder / "x.pdf"))
    (work,) = Library(folder, tmp_path / "cache").search("symbolic regression", k=1)
    assert work.title == "Curriculum Learning for Symbolic Regression"
    assert work.abstract == "We order equations by difficulty."


def test_index_is_reused_from_disk(library_dir: Path, tmp_path: Path):
    first = Library(library_dir, tmp_path / "cache")
    before = first.search("molecule property", k=2)
    assert len(first.last_update.read) == 4

    second = Library(library_dir, tmp_path / "cache")
    after = second.search("molecule property", k=2)
    assert second.last_update.read == []
    assert second.last_update.reused == 4
    assert [w.id for w in after] == [w.id for w in before]


def test_only_new_or_changed_files_are_read(library_dir: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    Library(library_dir, cache).update()

    write_paper(library_dir / "sub" / "rl.pdf", "Offline Reinforcement Learning for Robot Grasping",
                "Conservative Q-learning from logged grasp attempts.")
    library = Library(library_dir, cache)
    assert library.search("robot grasping reinforcement", k=1)[0].id == "library:sub/rl.pdf"
    assert library.last_update.read == ["sub/rl.pdf"]

    write_paper(library_dir / "vision.pdf", "Diffusion Models for Weather Forecasting",
                "Score-based generative models forecast precipitation.")
    library.update()
    assert library.last_update.read == ["vision.pdf"]
    assert library.search("precipitation forecasting", k=1)[0].title == "Diffusion Models for Weather Forecasting"
    assert "library:vision.pdf" not in {w.id for w in library.search("satellite contrastive", k=5)}


def test_removed_file_is_dropped(library_dir: Path, tmp_path: Path):
    library = Library(library_dir, tmp_path / "cache")
    assert library.search("satellite images", k=1)[0].id == "library:vision.pdf"
    (library_dir / "vision.pdf").unlink()

    reopened = Library(library_dir, tmp_path / "cache")
    works = reopened.search("satellite images contrastive vision", k=10)
    assert reopened.last_update.removed == ["vision.pdf"]
    assert reopened.last_update.read == []
    assert "library:vision.pdf" not in {w.id for w in works}


def test_corrupt_and_encrypted_pdfs_are_skipped_with_a_note(library_dir: Path, tmp_path: Path):
    (library_dir / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    writer = PdfWriter(clone_from=PdfReader(library_dir / "speech.pdf"))
    writer.encrypt(user_password="secret", algorithm="AES-128")
    with open(library_dir / "locked.pdf", "wb") as handle:
        writer.write(handle)

    library = Library(library_dir, tmp_path / "cache")
    works = library.search("protein attention", k=10)
    assert works[0].id == "library:folding.pdf"
    assert any(n.startswith("skipped broken.pdf in the library: not a readable PDF") for n in library.notes)
    assert "skipped locked.pdf in the library: encrypted (needs a password)" in library.notes

    again = Library(library_dir, tmp_path / "cache")
    again.update()
    assert again.last_update.read == []
    assert len(again.notes) == 2


def test_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(RetrievalError, match="does not exist"):
        Library(tmp_path / "nowhere", tmp_path / "cache")


def test_cancel_keeps_what_was_read(library_dir: Path, tmp_path: Path):
    progress: list[str] = []
    calls = iter([False, False, True])
    with pytest.raises(RetrievalCancelled):
        Library(library_dir, tmp_path / "cache").update(should_cancel=lambda: next(calls), report=progress.append)
    assert len(progress) == 2 and progress[0].startswith("Reading ")

    resumed = Library(library_dir, tmp_path / "cache")
    resumed.update()
    assert len(resumed.last_update.read) == 2
    assert resumed.last_update.reused == 2
    assert len(resumed.search("speech protein molecule satellite", k=10)) == 4


def test_nothing_is_written_to_stdout(library_dir: Path, tmp_path: Path, capfd):
    # stdout is the language server's channel: indexing, saving and loading must stay silent.
    Library(library_dir, tmp_path / "cache").search("protein", k=2)
    (library_dir / "folding.pdf").unlink()
    Library(library_dir, tmp_path / "cache").search("protein", k=2)
    reloaded = Library(library_dir, tmp_path / "cache")
    reloaded.search("protein", k=2)
    assert reloaded.last_update.read == [] and reloaded.last_update.removed == []
    assert capfd.readouterr().out == ""


def _age(folder: Path) -> None:
    """Set the folder's time a minute back, as if nothing had touched it for a while."""
    past = time.time_ns() - 60 * 10**9
    os.utime(folder, ns=(past, past))


def test_repeated_searches_look_at_folder_times_only(library_dir: Path, tmp_path: Path, monkeypatch):
    walks: list[int] = []
    walk = Library._walk
    monkeypatch.setattr(Library, "_walk", lambda self: walks.append(1) or walk(self))
    _age(library_dir)
    library = Library(library_dir, tmp_path / "cache")
    library.search("protein", k=1)
    library.search("speech", k=1)
    library.search("satellite", k=1)
    assert len(walks) == 1

    # A new PDF changes its folder's time, so the next search looks at every file again.
    write_paper(library_dir / "rl.pdf", "Offline Reinforcement Learning for Robot Grasping",
                "Conservative Q-learning from logged grasp attempts.")
    assert library.search("robot grasping", k=1)[0].id == "library:rl.pdf"
    assert len(walks) == 2 and library.last_update.read == ["rl.pdf"]


def test_a_pdf_rewritten_in_place_is_found_by_the_periodic_full_look(library_dir: Path, tmp_path: Path, monkeypatch):
    _age(library_dir)
    library = Library(library_dir, tmp_path / "cache")
    library.search("protein", k=1)
    folder_time = library_dir.stat().st_mtime_ns
    write_paper(library_dir / "vision.pdf", "Diffusion Models for Weather Forecasting",
                "Score-based generative models forecast precipitation.")
    # Rewriting a file in place leaves its folder's time alone, so searches do not see it yet.
    os.utime(library_dir, ns=(folder_time, folder_time))
    assert library.search("precipitation forecasting", k=1) == []

    monkeypatch.setattr(library_module, "RESCAN_AFTER", 0.0)
    assert library.search("precipitation forecasting", k=1)[0].id == "library:vision.pdf"
