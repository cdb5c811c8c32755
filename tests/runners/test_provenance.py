"""Every run records what it ran on: Python, the versions of what it imports, image, node, GPUs."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mlr_copilot.runners.envsummary import environment_diff
from mlr_copilot.runners.execute import execute, record_path
from mlr_copilot.runners.local import LocalRunner
from mlr_copilot.runners.model import RunEnvironment, RunRecord, RunRequest
from mlr_copilot.runners.provenance import host_gpus, imported_modules, requirement_names
from tests.gitutil import write

from .conftest import TEST_IMAGE, live_docker_client

SCRIPT = """
import json, os.path
import numpy as np
from sklearn import datasets
from helpers import util
from . import sibling
json.dump({"accuracy": 0.5}, open("results.json", "w"))
"""


def request(workspace: Path, command, **overrides) -> RunRequest:
    fields = dict(workspace=str(workspace), command=command, timeout=60, memory_mb=2048, cpus=1, max_processes=64)
    fields.update(overrides)
    return RunRequest(**fields)


def test_imports_are_read_without_stdlib_relative_or_own_modules(workspace):
    write(workspace, "train.py", SCRIPT)
    write(workspace, "helpers/__init__.py", "import yaml\n")
    write(workspace, "broken.py", "import (\n")
    write(workspace, ".venv/lib/x.py", "import torch\n")
    write(workspace, "data/gen.py", "import tensorflow\n")
    assert imported_modules(workspace) == ["numpy", "sklearn", "yaml"]


def test_requirements_names_skip_options_urls_and_comments(workspace):
    write(workspace, "requirements.txt", "# pinned\nscikit-learn==1.2.1\n-r other.txt\ntorch>=2 ; python_version>'3'\n"
          "git+https://example.invalid/x.git\n  pandas[excel]\n")
    assert requirement_names(workspace) == ["scikit-learn", "torch", "pandas"]


def test_local_run_records_python_packages_node_and_no_gpu_without_nvidia_smi(workspace, monkeypatch):
    write(workspace, "train.py", SCRIPT.replace("from . import sibling\n", "").replace("from helpers import util\n", ""))
    write(workspace, "requirements.txt", "pydantic\nnot-installed-anywhere==1\n")
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi
    host_gpus.cache_clear()
    record = execute(request(workspace, [sys.executable, "train.py"]), LocalRunner())
    env = record.environment
    assert record.status == "passed" and env is not None
    assert env.python == ".".join(map(str, sys.version_info[:3]))
    assert env.packages == {"numpy": metadata.version("numpy"), "scikit-learn": metadata.version("scikit-learn"),
                            "pydantic": metadata.version("pydantic")}
    assert (env.runner, env.node, env.image, env.gpus) == ("local", socket.gethostname(), None, [])
    saved = RunRecord.model_validate_json(record_path(workspace, record.id).read_text())
    assert saved.environment == env


def test_a_distribution_planted_in_the_workspace_is_not_taken_for_an_installed_one(workspace, monkeypatch):
    """`python -m` puts the current folder on the path: a workspace's fake dist-info is not the
    version the experiment ran with."""
    write(workspace, "numpy-0.0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: numpy\nVersion: 0.0.1\n")
    write(workspace, "train.py", "import numpy\n")
    installed = metadata.version("numpy")
    monkeypatch.syspath_prepend(str(workspace))
    assert metadata.version("numpy") == "0.0.1"
    record = execute(request(workspace, [sys.executable, "train.py"]), LocalRunner())
    assert record.environment.packages == {"numpy": installed}


def test_a_module_maps_to_one_distribution_whether_asked_for_or_all_are_listed():
    """Docker images are probed whole (`--all`), local runs by name: a module two distributions
    ship (mlflow and mlflow-skinny) must name the same one, or compare shows a false difference."""
    from mlr_copilot.runners.env_probe import describe

    names = ["numpy", "sklearn", "pydantic", "mlflow", "yaml"]
    asked, everything = describe(names)["modules"], describe([], everything=True)["modules"]
    assert asked == {name: everything[name] for name in names if name in everything}
    assert asked["sklearn"] == "scikit-learn"


def test_local_run_of_another_python_asks_that_python(workspace, tmp_path):
    """The command's `python` is not this process: its versions come from it, not from us."""
    fake = tmp_path / "bin" / "python3.99"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nif [ "$1" = "-I" ]; then echo \'{"python": "3.99.0", "packages": {"numpy": "0.1"}, '
                    '"modules": {"numpy": "numpy"}}\'; fi\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    write(workspace, "train.py", "import numpy\n")
    record = execute(request(workspace, "python3.99 train.py", env={"PATH": f"{fake.parent}:{os.environ['PATH']}"}),
                     LocalRunner())
    assert (record.environment.python, record.environment.packages) == ("3.99.0", {"numpy": "0.1"})


def test_a_probe_that_prints_nonsense_is_a_warning_not_a_failed_run(workspace, tmp_path):
    fake = tmp_path / "bin" / "python3.98"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nif [ "$1" = "-I" ]; then echo "{not json"; fi\necho "METRIC acc=1"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    record = execute(request(workspace, "python3.98 train.py", env={"PATH": f"{fake.parent}:{os.environ['PATH']}"}),
                     LocalRunner(), primary_metric="acc")
    assert record.status == "passed" and record.metrics == {"acc": 1.0}
    assert record.environment is None
    assert any("environment of this run could not be recorded" in w for w in record.warnings)


def fake_python(folder: Path, name: str, body: str) -> dict[str, str]:
    """An interpreter named `name` whose env probe (`-I ...`) runs `body`; the run's env for it."""
    fake = folder / "bin" / name
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-I" ]; then {body}; fi\nexit 0\n')
    fake.chmod(0o755)
    return {"PATH": f"{fake.parent}:{os.environ['PATH']}"}


def test_a_probe_that_hangs_with_a_child_holding_its_output_is_stopped(workspace, tmp_path, monkeypatch):
    from mlr_copilot.runners import provenance

    monkeypatch.setattr(provenance, "PROBE_TIMEOUT_S", 1.0)
    env = fake_python(tmp_path, "python3.97", "(sleep 600 &) ; sleep 600")
    record = execute(request(workspace, "python3.97 train.py", env=env), LocalRunner())
    assert record.environment is None
    assert any("did not answer within 1 s" in w for w in record.warnings)
    assert record.duration_s < 60


def test_a_probe_flooding_its_output_is_read_from_its_end(workspace, tmp_path):
    last = '{"python": "3.97.1", "packages": {"numpy": "9"}, "modules": {"numpy": "numpy"}}'
    env = fake_python(tmp_path, "python3.96", f"head -c 30000000 /dev/zero | tr '\\\\0' x; echo; echo '{last}'")
    write(workspace, "train.py", "import numpy\n")
    record = execute(request(workspace, "python3.96 train.py", env=env), LocalRunner())
    assert (record.environment.python, record.environment.packages) == ("3.97.1", {"numpy": "9"})


def test_gpus_come_from_nvidia_smi_and_a_failing_one_means_none(tmp_path, monkeypatch):
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nprintf 'NVIDIA A100-SXM4-40GB\\nNVIDIA A100-SXM4-40GB\\n'\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    host_gpus.cache_clear()
    assert host_gpus() == ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB")
    tool.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    host_gpus.cache_clear()
    assert host_gpus() == ()
    host_gpus.cache_clear()


def test_old_records_without_environment_load(workspace):
    old = {"id": "20240101-120000-abcdef", "command": "python train.py", "runner": "local",
           "started_at": "2024-01-01T12:00:00+00:00", "status": "passed"}
    assert RunRecord.model_validate_json(json.dumps(old)).environment is None


def test_environment_diff_names_each_difference():
    docker = RunEnvironment(python="3.11.2", packages={"scikit-learn": "1.2.1", "numpy": "1.24.2"}, runner="docker",
                            node="box", image="mlr-python:bookworm", image_id="sha256:07e9")
    local = RunEnvironment(python="3.11.7", packages={"scikit-learn": "1.9.1", "numpy": "1.24.2", "pandas": "2.2"},
                           runner="local", node="box")
    changes = {(c.what, c.a, c.b) for c in environment_diff(docker, local)}
    assert changes == {("python", "3.11.2", "3.11.7"), ("runner", "docker", "local"),
                       ("image", "mlr-python:bookworm", None), ("image id", "sha256:07e9", None),
                       ("package scikit-learn", "1.2.1", "1.9.1"), ("package pandas", None, "2.2")}
    assert environment_diff(local, local) == [] and environment_diff(None, None) == []
    assert ("python", None, "3.11.7") in {(c.what, c.a, c.b) for c in environment_diff(None, local)}


@pytest.mark.docker
def test_docker_run_records_the_image_python_and_its_package_versions(workspace, tmp_path, monkeypatch):
    from mlr_copilot.runners import provenance
    from mlr_copilot.runners.docker import DockerRunner

    monkeypatch.setenv("MLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(provenance, "_PROBED", {})

    client = live_docker_client()
    write(workspace, "train.py", "import sklearn\nprint('METRIC acc=1')\n")
    runner = DockerRunner(TEST_IMAGE, client=client)
    record = execute(request(workspace, "python train.py", image=TEST_IMAGE), runner)
    env = record.environment
    assert record.status == "passed", record.message
    inside = client.containers.run(TEST_IMAGE, ["python3", "-c", "import sklearn, platform; "
                                               "print(platform.python_version(), sklearn.__version__)"],
                                   remove=True, network_mode="none").decode().split()
    assert (env.python, env.packages) == (inside[0], {"scikit-learn": inside[1]})
    assert (env.runner, env.image, env.image_id) == ("docker", TEST_IMAGE, client.images.get(TEST_IMAGE).id)
    assert env.gpus == []
    cached = list((tmp_path / "cache" / "environments").glob("*.json"))
    assert len(cached) == 1  # the image is probed once; the next run reads this
    again = execute(request(workspace, "python train.py", image=TEST_IMAGE), runner)
    assert again.environment == env
