from __future__ import annotations

from pathlib import Path

import httpx

from mlr_copilot.retrieval.model import RelatedWork
from mlr_copilot.retrieval.related import merge_works, reference_title, related_work

REFERENCES = [
    "[1] A. Vaswani, N. Shazeer, et al. Attention is all you need. In NeurIPS, 2017.",
    "[2] J. Jumper et al. Highly accurate protein structure prediction with AlphaFold. Nature, 2021.",
    "[3] K. He, X. Zhang, S. Ren, J. Sun. Deep residual learning for image recognition. In CVPR, 2016.",
]

ARXIV_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry>
    <id>http://arxiv.org/abs/2401.00001v1</id>
    <published>2024-01-02T00:00:00Z</published>
    <title>Sparse Attention for Protein Structure
  Prediction</title>
    <summary>An arXiv copy of the paper that is also in the local library.</summary>
    <author><name>A. Author</name></author>
    <link href="http://arxiv.org/abs/2401.00001v1" rel="alternate" type="text/html"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2107.00002v1</id>
    <published>2021-07-15T00:00:00Z</published>
    <title>Highly Accurate Protein Structure Prediction with AlphaFold</title>
    <summary>Proteins are essential to life; AlphaFold predicts their structure.</summary>
    <author><name>John Jumper</name></author>
    <link href="http://arxiv.org/abs/2107.00002v1" rel="alternate" type="text/html"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2302.00003v2</id>
    <published>2023-02-01T00:00:00Z</published>
    <title>Efficient Protein Language Models</title>
    <summary>Smaller protein language models.</summary>
    <author><name>C. Writer</name></author>
  </entry>
</feed>
"""


def arxiv_only(request: httpx.Request) -> httpx.Response:
    if request.url.host == "export.arxiv.org":
        return httpx.Response(200, text=ARXIV_FEED)
    raise httpx.ConnectError("Name or service not known", request=request)


def test_offline_merges_library_and_references(library_dir: Path, tmp_path: Path):
    result = related_work("protein structure prediction", references=REFERENCES, library_dir=library_dir,
                          cache_dir=tmp_path / "cache", online=False, k=5)
    ids = [w.id for w in result.works]
    assert "library:folding.pdf" in ids
    assert "ref:2" in ids
    assert "ref:3" not in ids, "a reference sharing no word with the query is not related"
    alphafold = next(w for w in result.works if w.id == "ref:2")
    assert alphafold.title == "Highly accurate protein structure prediction with AlphaFold"
    assert alphafold.year == 2021 and alphafold.source == "references"
    assert result.notes == ["online sources skipped: offline mode"]
    assert all(0 < w.score <= 1 for w in result.works)
    assert not (tmp_path / "cache" / "online").exists()


def test_online_results_are_deduplicated_against_library_and_references(library_dir: Path, tmp_path: Path):
    client = httpx.Client(transport=httpx.MockTransport(arxiv_only))
    result = related_work("protein structure prediction", references=REFERENCES, library_dir=library_dir,
                          cache_dir=tmp_path / "cache", online=True, k=10, client=client)
    titles = [" ".join(w.title.lower().split()) for w in result.works]
    assert len(titles) == len(set(titles))
    by_id = {w.id: w for w in result.works}
    assert "arxiv:2401.00001" not in by_id and "arxiv:2107.00002" not in by_id
    assert "arxiv:2302.00003" in by_id

    cited = by_id["ref:2"]
    assert cited.source == "references"
    assert cited.abstract == "Proteins are essential to life; AlphaFold predicts their structure."
    assert cited.url == "http://arxiv.org/abs/2107.00002v1"
    assert cited.authors == ["John Jumper"]
    local = by_id["library:folding.pdf"]
    assert local.url.startswith("file://")
    assert result.notes == [
        "Semantic Scholar was unreachable (offline)",
        "OpenAlex was unreachable (offline)",
    ]


def test_unreachable_everywhere_and_no_library(tmp_path: Path):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Temporary failure in name resolution", request=request)

    result = related_work("attention", references=REFERENCES, library_dir=None, cache_dir=tmp_path,
                          online=True, client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert [w.id for w in result.works] == ["ref:1"]
    assert result.notes[0] == "local library skipped: no library folder is set"
    assert "arXiv was unreachable (offline)" in result.notes
    assert result.notes[-1] == "no online source answered; used the local library and the paper's references"


def test_missing_library_folder_is_a_note(tmp_path: Path):
    result = related_work("attention", references=[], library_dir=tmp_path / "gone", cache_dir=tmp_path,
                          online=False)
    assert result.works == []
    assert result.notes[0].startswith("local library skipped: library folder ")
    assert result.notes[0].endswith("does not exist or is not a folder")


def test_title_inside_a_longer_reference_is_the_same_work():
    reference = RelatedWork(id="ref:1", title="He K, Zhang X, Ren S, Sun J. Deep residual learning for image recognition. CVPR 2016.",
                     source="references", score=2.0)
    online = RelatedWork(id="openalex:W1", title="Deep Residual Learning for Image Recognition", url="https://doi.org/x",
                  source="openalex", score=1.0)
    short = RelatedWork(id="openalex:W2", title="ResNet", source="openalex", score=0.5)
    merged = merge_works([online, reference, short], k=10)
    assert [w.id for w in merged] == ["ref:1", "openalex:W2"]
    assert merged[0].url == "https://doi.org/x"


def test_reference_title_shapes():
    assert reference_title("Vaswani, A., Shazeer, N. (2017). Attention is all you need. NeurIPS.") == "Attention is all you need"
    assert reference_title('J. Devlin et al., \u201cBERT: Pre-training of deep bidirectional transformers,\u201d NAACL 2019.') == (
        "BERT: Pre-training of deep bidirectional transformers"
    )
    assert reference_title("Unparseable") == "Unparseable"


def test_one_library_serves_every_proposal_and_sees_a_new_paper(library_dir: Path, tmp_path: Path):
    from mlr_copilot.retrieval import related
    from tests.retrieval.conftest import write_paper

    def search():
        return related_work("diffusion models for audio synthesis", references=[], library_dir=library_dir,
                            cache_dir=tmp_path / "cache", online=False, k=5)

    first = search()
    kept = related._library(library_dir, tmp_path / "cache" / "library")
    assert "library:audio.pdf" not in [w.id for w in first.works]
    write_paper(library_dir / "new" / "audio.pdf", "Diffusion Models for Audio Synthesis",
                "Score-based diffusion generates raw audio waveforms for speech and music synthesis.")
    second = search()
    assert related._library(library_dir, tmp_path / "cache" / "library") is kept
    assert "library:new/audio.pdf" in [w.id for w in second.works]
