from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.hf_api import DatasetInfo, ModelInfo

from mlr_copilot.retrieval.hfcache import local_candidates
from mlr_copilot.retrieval.hub import candidates, pipeline_tag_for
from mlr_copilot.retrieval.hubapi import weights_mb

MB = 1024 * 1024


def cached_repo(hub: Path, kind: str, repo_id: str, files: dict[str, bytes]) -> None:
    """A repository laid out as huggingface_hub stores downloads: blobs, refs, snapshots."""
    root = hub / f"{kind}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    (root / "blobs").mkdir()
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        blob = root / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        (snapshot / name).symlink_to(Path("../..") / "blobs" / blob.name)


@pytest.fixture
def hf_cache(tmp_path: Path) -> Path:
    hub = tmp_path / "hf" / "hub"
    cached_repo(hub, "model", "acme/tiny-sentiment-bert", {
        "config.json": b'{"architectures": ["BertForSequenceClassification"]}',
        "README.md": b"---\npipeline_tag: text-classification\nlibrary_name: transformers\ntags:\n- sentiment\n---\n# Tiny\n",
        "model.safetensors": b"\0" * (2 * MB),
    })
    cached_repo(hub, "model", "acme/huge-llm", {"config.json": b"{}", "model.safetensors": b"\0" * (3 * MB)})
    cached_repo(hub, "dataset", "acme/movie-reviews", {
        "README.md": b"---\ntask_categories:\n- text-classification\n---\n",
        "train.csv": b"text,label\ngood,1\n",
    })
    return hub


class StubHub:
    """Stands in for HfApi (a network service): answers with real ModelInfo/DatasetInfo."""

    def __init__(self, models=(), datasets=(), sizes=None, fail_with=None):
        self.models = list(models)
        self.datasets = list(datasets)
        self.sizes = sizes or {}
        self.fail_with = list(fail_with or [])
        self.calls: list[tuple[str, dict]] = []

    def _maybe_fail(self):
        if self.fail_with:
            raise self.fail_with.pop(0)

    def list_models(self, **kwargs):
        self.calls.append(("list_models", kwargs))
        self._maybe_fail()
        search = kwargs.get("search")
        return iter([m for m in self.models if not search or search.lower() in m.id.lower()])

    def list_datasets(self, **kwargs):
        self.calls.append(("list_datasets", kwargs))
        self._maybe_fail()
        search = kwargs.get("search")
        return iter([d for d in self.datasets if not search or search.lower() in d.id.lower()])

    def model_info(self, repo_id, files_metadata=False):
        self.calls.append(("model_info", {"repo_id": repo_id, "files_metadata": files_metadata}))
        self._maybe_fail()
        return ModelInfo(id=repo_id, siblings=[{"rfilename": n, "size": s} for n, s in self.sizes[repo_id].items()])

    def dataset_info(self, repo_id, files_metadata=False):
        self.calls.append(("dataset_info", {"repo_id": repo_id, "files_metadata": files_metadata}))
        self._maybe_fail()
        return DatasetInfo(id=repo_id, siblings=[{"rfilename": n, "size": s} for n, s in self.sizes[repo_id].items()])


def stub_hub(**kwargs) -> StubHub:
    return StubHub(
        models=[
            ModelInfo(id="bigco/bert-base-sentiment", downloads=2_000_000, pipeline_tag="text-classification",
                      tags=["transformers", "text-classification"]),
            ModelInfo(id="bigco/giant-sentiment-xxl", downloads=900_000, pipeline_tag="text-classification",
                      tags=["text-classification"], safetensors={"parameters": {"BF16": 7_000_000_000}, "total": 7_000_000_000}),
            ModelInfo(id="someone/sentiment-distilbert", downloads=50_000, pipeline_tag="text-classification",
                      tags=["text-classification", "sentiment"]),
            ModelInfo(id="acme/tiny-sentiment-bert", downloads=12, pipeline_tag="text-classification", tags=[]),
        ],
        datasets=[
            DatasetInfo(id="stanfordnlp/imdb", downloads=300_000, tags=["task_categories:text-classification"], mainSize=84 * MB),
            DatasetInfo(id="other/sentiment-tweets", downloads=4_000, tags=["task_categories:text-classification"]),
        ],
        sizes={
            "bigco/bert-base-sentiment": {"model.safetensors": 420 * MB, "pytorch_model.bin": 440 * MB, "config.json": 700},
            "someone/sentiment-distilbert": {"pytorch_model.bin": 255 * MB, "vocab.txt": 200_000},
            "acme/tiny-sentiment-bert": {"model.safetensors": 2 * MB},
            "other/sentiment-tweets": {"data/train.parquet": 3 * MB, "README.md": 2_000},
        },
        **kwargs,
    )


def test_local_cache_is_scanned(hf_cache: Path):
    found = {c.id: c for c in local_candidates(hf_cache)}
    assert set(found) == {"acme/tiny-sentiment-bert", "acme/huge-llm", "acme/movie-reviews"}
    tiny = found["acme/tiny-sentiment-bert"]
    assert tiny.kind == "model" and tiny.local and tiny.size_mb == pytest.approx(2.0, abs=0.05)
    assert tiny.tags == ["text-classification", "transformers", "sentiment"]
    assert found["acme/movie-reviews"].kind == "dataset"
    assert found["acme/movie-reviews"].tags == ["task_categories:text-classification"]


def test_missing_cache_gives_nothing(tmp_path: Path):
    assert local_candidates(tmp_path / "no-cache-here") == []


def test_offline_proposes_only_the_local_cache(hf_cache: Path, tmp_path: Path):
    api = stub_hub()
    result = candidates("text-classification", ["sentiment"], online=False, max_size_mb=2, cache_dir=tmp_path / "c",
                        api=api, hf_cache_dir=hf_cache)
    assert api.calls == []
    assert [m.id for m in result.models] == ["acme/tiny-sentiment-bert"]
    assert [d.id for d in result.datasets] == ["acme/movie-reviews"]
    assert all(c.local for c in result.models + result.datasets)
    assert result.notes == [
        "Hugging Face Hub unreachable (offline mode); only models and datasets in the local cache are proposed",
        "left out 1 model(s) over 2 MB: acme/huge-llm",
    ]


def test_hf_hub_offline_variable_is_respected(hf_cache: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    api = stub_hub()
    result = candidates("text-classification", [], online=True, max_size_mb=2000, cache_dir=tmp_path / "c",
                        api=api, hf_cache_dir=hf_cache)
    assert api.calls == []
    assert "HF_HUB_OFFLINE is set" in result.notes[0]


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
        OfflineModeIsEnabled("Cannot reach https://huggingface.co/api/models: offline mode is enabled."),
        ConnectionError("Max retries exceeded with url: /api/models"),
    ],
)
def test_unreachable_hub_degrades_to_the_local_cache(hf_cache: Path, tmp_path: Path, error: Exception):
    api = stub_hub(fail_with=[error])
    result = candidates("text-classification", ["sentiment"], online=True, max_size_mb=2000,
                        cache_dir=tmp_path / "c", api=api, hf_cache_dir=hf_cache)
    assert len(api.calls) == 1, "after the first failure the Hub is not asked again"
    assert {m.id for m in result.models} == {"acme/tiny-sentiment-bert", "acme/huge-llm"}
    assert result.notes[0].startswith("Hugging Face Hub unreachable (")
    assert result.notes[0].endswith("only models and datasets in the local cache are proposed")


def test_online_ranking_sizes_and_local_marking(hf_cache: Path, tmp_path: Path):
    api = stub_hub()
    result = candidates("text-classification", ["sentiment", "bert"], online=True, max_size_mb=1000,
                        cache_dir=tmp_path / "c", api=api, hf_cache_dir=hf_cache)
    models = {m.id: m for m in result.models}
    assert "bigco/giant-sentiment-xxl" not in models
    assert "left out 1 model(s) over 1000 MB: bigco/giant-sentiment-xxl" in result.notes
    assert models["bigco/bert-base-sentiment"].size_mb == 420.0, "one format of the weights, not both"
    assert models["someone/sentiment-distilbert"].size_mb == 255.0
    assert models["acme/tiny-sentiment-bert"].local and models["acme/tiny-sentiment-bert"].downloads == 12
    assert not models["bigco/bert-base-sentiment"].local
    assert result.models[0].id == "bigco/bert-base-sentiment"
    assert all(a.score >= b.score for a, b in zip(result.models, result.models[1:]))
    datasets = {d.id: d for d in result.datasets}
    assert [d.id for d in result.datasets][:2] == ["other/sentiment-tweets", "stanfordnlp/imdb"], (
        "a keyword in the name outweighs downloads"
    )
    assert datasets["stanfordnlp/imdb"].size_mb == 84.0
    assert datasets["acme/movie-reviews"].local

    listed = [kwargs for name, kwargs in api.calls if name == "list_models"]
    assert listed[0]["filter"] == "text-classification" and listed[0]["sort"] == "downloads"
    assert {kw["search"] for kw in listed} == {None, "sentiment", "bert"}
    sized = [kwargs["repo_id"] for name, kwargs in api.calls if name == "model_info"]
    assert "acme/tiny-sentiment-bert" not in sized, "local models are measured on disk"
    assert "bigco/giant-sentiment-xxl" not in sized, "safetensors metadata already gave its size"


def test_answers_are_cached(hf_cache: Path, tmp_path: Path):
    first = candidates("text-classification", ["sentiment"], online=True, max_size_mb=1000,
                       cache_dir=tmp_path / "c", api=stub_hub(), hf_cache_dir=hf_cache)
    api = stub_hub(fail_with=[AssertionError("the Hub must not be asked")] * 20)
    second = candidates("text-classification", ["sentiment"], online=True, max_size_mb=1000,
                        cache_dir=tmp_path / "c", api=api, hf_cache_dir=hf_cache)
    assert api.calls == []
    assert second == first


def test_rate_limit_backs_off_then_succeeds(hf_cache: Path, tmp_path: Path):
    request = httpx.Request("GET", "https://huggingface.co/api/models")
    limited = HfHubHTTPError("429 Too Many Requests",
                             response=httpx.Response(429, headers={"Retry-After": "2"}, request=request))
    api = stub_hub(fail_with=[limited])
    waits: list[float] = []
    result = candidates("text-classification", [], online=True, max_size_mb=1000, cache_dir=tmp_path / "c",
                        api=api, hf_cache_dir=hf_cache, sleep=waits.append)
    assert waits == [2.0]
    assert result.notes == ["left out 1 model(s) over 1000 MB: bigco/giant-sentiment-xxl"]
    assert "bigco/bert-base-sentiment" in {m.id for m in result.models}


def test_expired_answers_are_used_when_the_hub_is_down(hf_cache: Path, tmp_path: Path):
    candidates("text-classification", [], online=True, max_size_mb=1000, cache_dir=tmp_path / "c",
               api=stub_hub(), hf_cache_dir=hf_cache)
    api = stub_hub(fail_with=[httpx.ConnectError("down")])
    result = candidates("text-classification", [], online=True, max_size_mb=1000, cache_dir=tmp_path / "c",
                        api=api, hf_cache_dir=hf_cache, ttl=0)
    assert "bigco/bert-base-sentiment" in {m.id for m in result.models}
    assert result.notes[0] == (
        "Hugging Face Hub unreachable (no connection); proposing its answers cached earlier and the local cache"
    )


def test_weights_counted_once():
    assert weights_mb([("model.safetensors", 10 * MB), ("pytorch_model.bin", 12 * MB), ("tokenizer.json", MB)]) == 10.0
    assert weights_mb([("q4.gguf", 4 * MB), ("q8.gguf", 8 * MB)]) == 4.0
    assert weights_mb([("README.md", MB // 2)]) == 0.5
    assert weights_mb([]) is None


def test_a_task_that_is_not_a_pipeline_tag_is_searched_as_a_keyword(tmp_path: Path):
    api = stub_hub()
    result = candidates("Sentiment", [], online=True, max_size_mb=1000, cache_dir=tmp_path / "c", api=api,
                        hf_cache_dir=tmp_path / "none")
    listed = [kwargs for name, kwargs in api.calls if name == "list_models"]
    assert {kw["filter"] for kw in listed} == {None}
    assert {kw["search"] for kw in listed} == {None, "sentiment"}
    assert result.models[0].id == "bigco/bert-base-sentiment"

    api = stub_hub()
    candidates("Text Classification", [], online=True, max_size_mb=1000, cache_dir=tmp_path / "d", api=api,
               hf_cache_dir=tmp_path / "none")
    assert api.calls[0][1]["filter"] == "text-classification"


def test_dataset_sizes_are_limited_too(hf_cache: Path, tmp_path: Path):
    api = stub_hub()
    result = candidates("text-classification", ["sentiment"], online=True, max_size_mb=50, cache_dir=tmp_path / "c",
                        api=api, hf_cache_dir=hf_cache)
    datasets = {d.id: d for d in result.datasets}
    assert "stanfordnlp/imdb" not in datasets
    assert "left out 1 dataset(s) over 50 MB: stanfordnlp/imdb" in result.notes
    assert datasets["other/sentiment-tweets"].size_mb == 3.0, "a size the listing lacks is asked of the Hub"
    assert datasets["acme/movie-reviews"].local
    sized = [kwargs["repo_id"] for name, kwargs in api.calls if name == "dataset_info"]
    assert sized == ["other/sentiment-tweets"]


def test_every_proposed_model_has_its_size_checked(tmp_path: Path):
    """Not just the first few: a model ranked low but proposed is measured like the others."""
    many = [ModelInfo(id=f"org/clf-{n}", downloads=1000 - n, pipeline_tag="text-classification",
                      tags=["text-classification"]) for n in range(8)]
    api = StubHub(models=many, sizes={f"org/clf-{n}": {"model.safetensors": (10 if n < 6 else 5000) * MB}
                                      for n in range(8)})
    result = candidates("text-classification", [], online=True, max_size_mb=100, cache_dir=tmp_path / "c", api=api,
                        hf_cache_dir=tmp_path / "none")
    assert [m.id for m in result.models] == [f"org/clf-{n}" for n in range(6)]
    assert result.notes == ["left out 2 model(s) over 100 MB: org/clf-6, org/clf-7"]


@pytest.mark.parametrize(
    "texts, tag",
    [
        (("Classify short product reviews as negative, neutral or positive.",), "text-classification"),
        (("Sentiment of tweets about airlines",), "text-classification"),
        (("We study Text Classification under label noise",), "text-classification"),
        (("Image classification on CIFAR-10 with few labels",), "image-classification"),
        (("Named entity recognition in clinical notes",), "token-classification"),
        (("Open-domain question answering over Wikipedia",), "question-answering"),
        (("Abstractive summarisation of news",), "summarization"),
        (("Speech recognition for low-resource languages",), "automatic-speech-recognition"),
        (("Translation invariance of image classifiers",), "image-classification"),
        (("a dataset name: imdb", "Negation flips the sentiment of a review"), "text-classification"),
        (("reviews", "imdb"), ""),
    ],
)
def test_a_research_task_maps_to_a_pipeline_tag(texts, tag):
    assert pipeline_tag_for(*texts) == tag


def test_the_mapped_task_filters_the_hub_search(tmp_path: Path):
    api = stub_hub()
    task = pipeline_tag_for("Classify short product reviews as negative, neutral or positive.")
    candidates(task, ["imdb"], online=True, max_size_mb=1000, cache_dir=tmp_path / "c", api=api,
               hf_cache_dir=tmp_path / "none")
    listed = [kwargs for name, kwargs in api.calls if name in ("list_models", "list_datasets")]
    assert {kw.get("filter") or kw.get("task_categories") for kw in listed} == {"text-classification"}
