"""Settings: one validated model read from editor options, `workspace/configuration` and
environment variables (what a workspace's `.env` may add to them is `envfile`'s rule).

A bad value never stops the server: it falls back to its default and the caller gets a
warning naming the setting, so the user sees what was ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from .choices import one_of
from .llm.providers import DEFAULT_PROVIDER, PROVIDERS, resolved_model
from .objective import Direction
from .runners.registry import setting_name
from .settings_layers import raw_settings, settings_from_env

__all__ = ["load_settings", "settings_from_env", "validate_settings"]

# a name in the provider registry (llm/providers.py)
ProviderName = Annotated[str, BeforeValidator(lambda value: one_of(value, tuple(PROVIDERS)))]
# `auto` or a registered runner's name (runners/registry.py)
RunnerName = Annotated[str, BeforeValidator(setting_name)]


class _Section(BaseModel):
    # A section's validator is built when a value is first validated: the commands that read
    # only defaults (history, status, queue) never pay for building it (start-up time).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class LLMSettings(_Section):
    provider: ProviderName = DEFAULT_PROVIDER
    model: str = ""
    base_url: str | None = Field(default=None, alias="baseUrl")
    script: str | None = Field(default=None, description="JSONL file of recorded replies for the scripted provider")
    max_tokens: int = Field(default=4096, ge=1, le=200_000, alias="maxTokens")
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    timeout: float = Field(default=120.0, gt=0, description="seconds per request")
    max_retries: int = Field(default=4, ge=0, le=10, alias="maxRetries")
    budget_usd: float | None = Field(default=None, ge=0, alias="budgetUsd")
    budget_tokens: int | None = Field(default=None, ge=0, alias="budgetTokens")

    def resolved_model(self) -> str:
        return resolved_model(self.provider, self.model)


class IdeasSettings(_Section):
    hypotheses: int = Field(default=5, ge=1, le=20)
    library: str | None = Field(default=None, description="folder of PDFs indexed as the local library")
    online: bool = True


class ImplementSettings(_Section):
    max_steps: int = Field(default=8, ge=1, le=50, alias="maxSteps")
    max_edit_retries: int = Field(default=2, ge=0, le=5, alias="maxEditRetries")
    prototype_paths: list[str] = Field(default_factory=list, alias="prototypePaths")
    max_model_size_mb: int = Field(default=2000, ge=1, alias="maxModelSizeMb")


class RunSettings(_Section):
    command: str | None = Field(default=None, description="the experiment command; default: the plan's, the task's, else python train.py")
    runner: RunnerName = "auto"
    image: str = "mlr-python:bookworm"
    timeout: float = Field(default=3600.0, gt=0)
    memory_mb: int = Field(default=4096, ge=64, alias="memoryMb")
    cpus: float = Field(default=2.0, gt=0)
    max_processes: int = Field(default=256, ge=8, alias="maxProcesses")
    max_output_mb: int = Field(default=200, ge=1, alias="maxOutputMb")
    network: bool = False
    gpus: bool = False
    results_file: str = Field(default="results.json", alias="resultsFile")
    metric: str | None = None
    direction: Direction | None = None
    debug_attempts: int = Field(default=3, ge=0, le=20, alias="debugAttempts")
    parallel: int | None = Field(default=None, ge=1, le=256,
                                 description="runs at once; default: 1 on a CPU-only machine, the number of GPUs otherwise")
    gpus_per_run: int | None = Field(default=None, ge=0, le=64, alias="gpusPerRun",
                                     description="GPUs each run owns; default: 0 on a CPU-only machine, else 1")
    reuse_worktrees: bool = Field(default=True, alias="reuseWorktrees",
                                  description="reuse run worktrees (one per slot): the next run rewrites only the files its commit changes; off: a fresh worktree per run")
    gpu_ids: list[str] | None = Field(default=None, alias="gpuIds",
                                      description="the GPUs runs may use (ids as CUDA numbers them); default: what nvidia-smi lists")

    # the `ray` runner (runners/ray_runner.py): where the cluster is and what each run asks of it
    ray_address: str = Field(default="", alias="rayAddress", max_length=500,
                             description="auto, ray://host:10001, host:port, or empty for a Ray instance of this machine on 127.0.0.1")
    ray_num_cpus: float = Field(default=1.0, gt=0, alias="rayNumCpus", description="CPUs each Ray run asks")
    ray_num_gpus: float | None = Field(default=None, ge=0, alias="rayNumGpus",
                                       description="GPUs each Ray run asks; default: run.gpusPerRun, else 0")
    ray_resources: dict[str, float] = Field(default_factory=dict, alias="rayResources",
                                            description="custom resources each Ray run asks, by name")
    ray_code: Literal["tarball", "shared"] = Field(
        default="tarball", alias="rayCode",
        description="how a run's tree reaches the worker: its commit as a tarball, or the run's folder on a filesystem every node mounts at the same path")
    ray_sandbox: Literal["auto", "docker", "none"] = Field(
        default="auto", alias="raySandbox",
        description="how a Ray worker holds a run: auto (a Docker container of run.image where the node has Docker and the image, else a plain process), docker (always; else the run is an error) or none (a plain process)")

    @field_validator("gpu_ids", mode="before")
    @classmethod
    def _split_gpu_ids(cls, value: Any) -> Any:
        # from an environment variable the list comes as "0,1,2"
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(item) for item in value]
        return value


class TrackingSettings(_Section):
    mlflow_uri: str | None = Field(default=None, alias="mlflowUri", max_length=2000,
                                   description="MLflow tracking URI (a server or a `file:` store) every finished run is logged to")


class SearchSettings(_Section):
    """The search's policy and budgets (rationale in the README, "The search")."""

    initial_drafts: int = Field(default=2, ge=1, le=20, alias="initialDrafts")
    debug_depth: int = Field(default=2, ge=0, le=10, alias="debugDepth")
    epsilon: float = Field(default=0.1, ge=0.0, le=1.0, description="share of picks that improve a random working node")
    rng_seed: int = Field(default=0, alias="rngSeed")
    reflect_every: int = Field(default=4, ge=0, le=100, alias="reflectEvery")
    ideas_after_reflect: int = Field(default=1, ge=0, le=10, alias="ideasAfterReflect",
                                     description="new hypotheses proposed from each reflection's evidence, drafted next")
    target_improvement: float | None = Field(default=None, alias="targetImprovement",
                                             description="stop once the best node beats the baseline by this share")
    max_nodes: int = Field(default=12, ge=1, le=1000, alias="maxNodes")
    hours: float | None = Field(default=None, gt=0)
    compute_seconds: float | None = Field(default=None, gt=0, alias="computeSeconds")
    seeds: int = Field(default=3, ge=1, le=20)
    seed_flag: str = Field(default="--seed", alias="seedFlag", min_length=1, max_length=40)


class Settings(_Section):
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ideas: IdeasSettings = Field(default_factory=IdeasSettings)
    implement: ImplementSettings = Field(default_factory=ImplementSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)


def validate_settings(raw: dict[str, Any] | None) -> tuple[Settings, list[str]]:
    """Validate `raw`; every invalid field falls back to its default with a warning."""
    raw = raw if isinstance(raw, dict) else {}
    warnings: list[str] = []
    sections: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        section_type = field.annotation
        assert isinstance(section_type, type) and issubclass(section_type, _Section)  # every field is a section
        value = raw.get(name, {})
        if not isinstance(value, dict):
            warnings.append(f"setting '{name}' must be an object; using defaults")
            value = {}
        if not value:  # the defaults, which pydantic never validates either
            sections[name] = section_type.model_construct()
            continue
        try:
            sections[name] = section_type.model_validate(value)
            continue
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                warnings.append(f"setting '{name}.{loc}' is invalid ({err['msg']}); using the default")
        kept = {k: v for k, v in value.items() if k not in bad}
        try:
            sections[name] = section_type.model_validate(kept)
        except ValidationError:
            sections[name] = section_type()
    # each section is validated above: the whole is only put together
    return Settings.model_construct(**sections), warnings


def load_settings(*layers: object, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """Environment first, then each layer over it (editor options, then `workspace/configuration`)."""
    raw, ignored = raw_settings(*layers, environ=environ)
    settings, warnings = validate_settings(raw)
    return settings, ignored + warnings
