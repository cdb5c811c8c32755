"""What an agent works with (`AgentContext`): the settings of the operation, the workspace's
state folder, its git workspace and file map, the environment keys are read from, and the LLM
client. The engine builds one per operation; agents never see the engine itself, so what an
agent may touch is this list and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .ideas.store import IdeaStore
from .state import StateDir

if TYPE_CHECKING:
    from .experiment.repomap import WorkspaceMap
    from .llm.client import LLM
    from .workspace.git import GitWorkspace


@dataclass(frozen=True)
class AgentContext:
    settings: Settings
    state: StateDir
    git: GitWorkspace
    files: WorkspaceMap
    environ: Mapping[str, str]
    # the LLM client is made on first use: an agent that never asks pays nothing for it
    connect: Callable[[], LLM]

    @property
    def workspace(self) -> Path:
        return self.state.workspace

    @property
    def llm(self) -> LLM:
        return self.connect()

    @property
    def ideas(self) -> IdeaStore:
        return IdeaStore(self.state)
