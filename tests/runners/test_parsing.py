"""Metrics, tracebacks, environment scrubbing and the log sink, on real text and files."""

from __future__ import annotations

import math
import time
from pathlib import Path

from mlr_copilot.runners.base import RunOutcome
from mlr_copilot.runners.docker_container import FrameDecoder
from mlr_copilot.runners.environment import scrub_env, secret_values
from mlr_copilot.runners.failures import diagnose, last_traceback, library_name, workspace_relative
from mlr_copilot.runners.logsink import LineThrottle, LogSink
from mlr_copilot.runners.metrics import collect_metrics, metrics_from_log
from mlr_copilot.runners.model import RunRequest
from mlr_copilot.runners.secretfiles import secret_files

CHAINED = """\
epoch 1
Traceback (most recent call last):
  File "/workspace/data.py", line 10, in load
    return read(path)
  File "/usr/lib/python3.11/json/__init__.py", line 293, in read
    raise FileNotFoundError(path)
FileNotFoundError: data.csv

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/workspace/train.py", line 30, in <module>
    main()
  File "/workspace/train.py", line 22, in main
    batch = loader.next()
            ^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/torch/utils/data/dataloader.py", line 631, in next
    raise RuntimeError("could not load a batch")
RuntimeError: could not load a batch
"""


def test_chained_traceback_uses_the_last_exception():
    parsed = last_traceback(CHAINED, Path("/home/u/ws"))
    assert parsed.error_type == "RuntimeError"
    assert [f.workspace_path for f in parsed.frames] == ["train.py", "train.py", None]


def test_path_mapping(tmp_path):
    ws = tmp_path / "ws"
    assert workspace_relative("/workspace/src/model.py", ws) == "src/model.py"
    assert workspace_relative(str(ws / "train.py"), ws) == "train.py"
    assert workspace_relative("train.py", ws) == "train.py"
    assert workspace_relative(str(ws / ".venv/lib/python3.11/site-packages/x.py"), ws) is None
    assert workspace_relative("/usr/lib/python3.11/json/decoder.py", ws) is None
    assert workspace_relative("<string>", ws) is None
    assert workspace_relative("../elsewhere.py", ws) is None
    assert library_name("/opt/venv/lib/python3.11/site-packages/torch/nn/functional.py") == "torch/nn/functional.py"
    assert library_name("/usr/lib/python3.11/json/decoder.py") == "json/decoder.py"


def _outcome(status="failed", exit_code=1, **kw) -> RunOutcome:
    return RunOutcome(status=status, exit_code=exit_code, log_path=Path("x.log"), duration_s=1.0, **kw)


def test_diagnose_places_library_errors_at_the_workspace_frame():
    request = RunRequest(workspace="/w", command="python train.py")
    [failure] = diagnose(_outcome(), CHAINED, Path("/w"), request, {}, None)
    assert (failure.path, failure.line, failure.kind) == ("train.py", 22, "exception")
    assert failure.message == "RuntimeError: could not load a batch (raised in torch/utils/data/dataloader.py:631)"


def test_diagnose_container_signal_and_oom_kill():
    request = RunRequest(workspace="/w", command="python train.py", memory_mb=128)
    [killed] = diagnose(_outcome(exit_code=137), "working\n", Path("/w"), request, {}, None)
    assert killed.kind == "killed" and "SIGKILL" in killed.message
    [oom] = diagnose(_outcome(status="oom", exit_code=137, oom_killed=True), "", Path("/w"), request, {}, None)
    assert oom.kind == "oom" and "128 MB" in oom.message
    [cuda] = diagnose(
        _outcome(),
        'Traceback (most recent call last):\n  File "/workspace/t.py", line 3, in <module>\n'
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
        Path("/w"), request, {}, None,
    )
    assert (cuda.kind, cuda.path, cuda.line) == ("oom", "t.py", 3)


def test_metric_lines_and_files(tmp_path):
    text = "METRIC loss=1.5\nMETRIC loss=0.5\n  METRIC val/acc: 7e-1\nMETRIC bad=abc\nnot a METRIC x=1\nMETRIC gn=NaN\n"
    found = metrics_from_log(text)
    assert found["loss"] == 0.5 and found["val/acc"] == 0.7 and "bad" not in found and "x" not in found
    assert math.isnan(found["gn"])
    (tmp_path / "results.json").write_text('{"loss": 0.25, "name": "run", "flag": true}')
    metrics, problems = collect_metrics(tmp_path, "results.json", found, since=time.time() - 10)
    assert metrics["loss"] == 0.25 and "name" not in metrics and "flag" not in metrics and problems == []
    (tmp_path / "results.json").write_text("{not json")
    _, problems = collect_metrics(tmp_path, "results.json", {})
    assert problems and "not valid JSON" in problems[0]
    _, problems = collect_metrics(tmp_path, "../outside.json", {})
    assert "outside the workspace" in problems[0]


def test_scrub_env():
    env = {
        "PATH": "/bin", "HOME": "/root", "OPENAI_API_KEY": "a", "ANTHROPIC_BASE_URL": "b", "CLAUDE_API_KEY": "c",
        "HF_TOKEN": "d", "HUGGING_FACE_HUB_TOKEN": "e", "AWS_REGION": "f", "GITHUB_TOKEN": "g", "DB_PASSWORD": "h",
        "MY_SECRET_THING": "i", "lower_api_key": "j", "CUDA_VISIBLE_DEVICES": "0", "TOKENIZERS_PARALLELISM": "false",
    }
    assert scrub_env(env) == {"PATH": "/bin", "HOME": "/root", "CUDA_VISIBLE_DEVICES": "0", "TOKENIZERS_PARALLELISM": "false"}


def test_line_throttle_bounds_callbacks():
    seen: list[str] = []
    throttle = LineThrottle(seen.append, per_window=50, window=10.0)
    for start in range(0, 100_000, 1000):
        throttle.feed("".join(f"line {i}\n" for i in range(start, start + 1000)).encode())
    throttle.close()
    assert seen[:50] == [f"line {i}" for i in range(50)]
    assert len(seen) == 51 and "99950 lines not shown live" in seen[-1]


def test_log_sink_caps_and_keeps_the_tail(tmp_path):
    sink = LogSink(tmp_path / "run.log", max_bytes=1000)
    for _ in range(10_000):
        sink.feed(b"y" * 99 + b"\n")
    sink.feed(b"Traceback (most recent call last):\nValueError: late\n")
    sink.close()
    data = (tmp_path / "run.log").read_bytes()
    assert data.startswith(b"y" * 99) and len(data) < 1000 + 70 * 1024
    assert data.rstrip().endswith(b"ValueError: late") and b"output passed the cap" in data
    assert sink.truncated


def test_failing_live_callback_does_not_stop_the_log(tmp_path):
    calls = []

    def broken(line: str) -> None:
        calls.append(line)
        raise RuntimeError("view closed")

    sink = LogSink(tmp_path / "run.log", max_bytes=10_000, on_line=broken)
    sink.feed(b"one\ntwo\nthree\n")
    sink.close()
    assert calls == ["one"]
    assert (tmp_path / "run.log").read_text() == "one\ntwo\nthree\n"


def test_metric_lines_are_read_as_the_output_streams_across_chunks(tmp_path):
    from mlr_copilot.runners.logsink import LogSink

    sink = LogSink(tmp_path / "run.log", max_bytes=64)
    for chunk in (b"epoch 1\nMETRIC lo", b"ss=0.9\nnoise " * 20, b"\nmetric acc=0.5\n", b"METRIC loss=0.25"):
        sink.feed(chunk)
    assert sink.metrics == {"loss": 0.9, "acc": 0.5}  # the last line has no newline yet
    sink.close()
    assert sink.metrics == {"loss": 0.25, "acc": 0.5}  # past the 64-byte cap too


def test_no_metric_at_all_is_a_diagnostic_even_without_a_primary_metric():
    request = RunRequest(workspace="/w", command="python train.py", results_file="out/results.json")
    [silent] = diagnose(_outcome(status="passed", exit_code=0), "trained\n", Path("/w"), request, {}, None)
    assert silent.kind == "no-metric"
    assert "out/results.json" in silent.message and "METRIC name=<value>" in silent.message
    assert diagnose(_outcome(status="passed", exit_code=0), "", Path("/w"), request, {"loss": 0.1}, None) == []


def test_secret_values_come_from_the_environment_and_secret_files(tmp_path):
    (tmp_path / ".env").write_text("HF_TOKEN=hf_dotenv_987654321\nMLR_PROVIDER=openai-compatible\n")
    (tmp_path / ".env.local").write_text("export DB_PASSWORD='pw-local-5555'\n")
    (tmp_path / "notes.env").write_text("OTHER_TOKEN=not-a-dotenv-file-1\n")
    env = {"OPENAI_API_KEY": "sk-env-12345678", "SHORT_TOKEN": "abc", "PATH": "/usr/local/bin:/usr/bin"}
    assert secret_values(env, secret_files(tmp_path)) == ["hf_dotenv_987654321", "sk-env-12345678", "pw-local-5555"]
    # A folder's own .env counts too, at any depth; installed packages and the repository are
    # not searched.
    for folder, value in (("service", "nested-secret-0001"), (".venv/lib", "venv-file-0002"), (".git", "git-file-0003"),
                          ("data/train/cats", "too-deep-00004")):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / ".env").write_text(f"API_KEY={value}\n")
    assert secret_values(env, secret_files(tmp_path)) == ["hf_dotenv_987654321", "nested-secret-0001",
                                                          "sk-env-12345678", "too-deep-00004", "pw-local-5555"]
    assert secret_files(tmp_path) == [tmp_path / ".env", tmp_path / ".env.local",
                                      tmp_path / "data" / "train" / "cats" / ".env", tmp_path / "service" / ".env"]


def test_log_sink_masks_secrets_cut_anywhere_without_holding_back_lines(tmp_path):
    secrets = ["sk-secret-0123456789", "sk-secret-01"]
    text = b"key sk-secret-0123456789 and sk-secret-01!\nnear miss sk-secret-X\nsk-secret-0"
    live: list[str] = []
    sink = LogSink(tmp_path / "run.log", max_bytes=10_000, on_line=live.append, secrets=secrets)
    sink.feed(b"ready\n")
    assert live == ["ready"]
    for byte in range(len(text)):
        sink.feed(text[byte : byte + 1])
    sink.close()
    expected = "ready\nkey *** and ***!\nnear miss sk-secret-X\nsk-secret-0"
    assert (tmp_path / "run.log").read_text() == expected
    assert live == expected.splitlines()


def test_frame_decoder_joins_payloads_cut_anywhere():
    payloads = [b"first line\n", b"", b"x" * 300, b"METRIC acc=0.5\n"]
    stream = b"".join(bytes([1 + i % 2, 0, 0, 0]) + len(p).to_bytes(4, "big") + p for i, p in enumerate(payloads))
    for size in (1, 3, 8, 9, 100, len(stream)):
        decoder = FrameDecoder()
        out = b"".join(decoder.feed(stream[at : at + size]) for at in range(0, len(stream), size))
        assert out == b"".join(payloads), size
