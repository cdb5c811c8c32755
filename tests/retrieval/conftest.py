"""Shared helpers: small real PDFs written with fpdf2."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF


def write_paper(path: Path, title: str, abstract: str, body: str = "") -> Path:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", size=15)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, "A. Author, B. Author", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, "Abstract", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, abstract, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, "1 Introduction", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, body or "This section introduces the problem.", new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


PAPERS = {
    "folding.pdf": (
        "Sparse Attention for Protein Structure Prediction",
        "We study sparse attention mechanisms for predicting protein structures from amino acid "
        "sequences and reduce memory use on long chains.",
    ),
    "graphs.pdf": (
        "Message Passing Networks for Molecule Property Regression",
        "Graph neural networks with edge-conditioned message passing predict solubility and "
        "toxicity of small molecules.",
    ),
    "vision.pdf": (
        "Contrastive Pretraining of Vision Transformers on Satellite Images",
        "Self-supervised contrastive learning on unlabeled satellite imagery improves land cover "
        "classification with few labels.",
    ),
    "speech.pdf": (
        "Low-Resource Speech Recognition with Phoneme Adapters",
        "Adapter layers trained on phoneme targets transfer multilingual speech recognition models "
        "to languages with one hour of transcribed audio.",
    ),
}


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "papers"
    for name, (title, abstract) in PAPERS.items():
        write_paper(folder / name, title, abstract)
    return folder
