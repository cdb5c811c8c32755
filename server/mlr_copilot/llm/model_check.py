"""Is the configured model served? Asked of the provider's models endpoint, for `doctor` when
it may go online: one line that either confirms the model or lists what the key can use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlr_copilot.llm.base import LLMError, ModelLister
from mlr_copilot.llm.factory import make_provider
from mlr_copilot.llm.model_list import chat_models, listing, served_as
from mlr_copilot.llm.redaction import redact
from mlr_copilot.untrusted import one_line

if TYPE_CHECKING:
    from mlr_copilot.config import LLMSettings


@dataclass(frozen=True)
class ModelCheck:
    ok: bool
    # one line, keys masked
    finding: str


def verdict(provider: ModelLister, ids: list[str]) -> ModelCheck:
    """The check's result once the endpoint has listed `ids`."""
    model, name = provider.model, provider.name
    match = served_as(model, ids)
    if match is not None:
        alias = f" (as {match})" if match != model else ""
        return ModelCheck(True, f"{name}: model '{model}' is served by {provider.where}{alias}")
    choices = listing(chat_models(ids) or ids) or "none"
    return ModelCheck(False, f"{name}: model '{model}' is not among the {len(ids)} models {provider.where} lists; "
                             f"set llm.model (MLR_MODEL, --model) to one of: {choices}")


async def check_model(
    settings: LLMSettings,
    *,
    workspace: Path | None = None,
    environ: Mapping[str, str] | None = None,
    http_client: Any = None,
) -> ModelCheck:
    """Whether the provider of `settings` serves its model. Never raises for a bad setup or an
    endpoint that does not answer: it says so. The names come from the endpoint, so the line
    is masked (keys) and kept to one line."""
    check = await _ask(settings, workspace=workspace, environ=environ, http_client=http_client)
    return ModelCheck(check.ok, one_line(redact(check.finding, environ)))


async def _ask(settings: LLMSettings, *, workspace: Path | None, environ: Mapping[str, str] | None,
               http_client: Any) -> ModelCheck:
    try:
        provider = make_provider(settings, workspace=workspace, environ=environ, http_client=http_client)
    except LLMError as exc:
        return ModelCheck(False, str(exc))
    if not isinstance(provider, ModelLister):
        return ModelCheck(True, f"{provider.name}: no models endpoint to ask (model '{provider.model}')")
    try:
        return verdict(provider, await provider.served_models())
    except LLMError as exc:
        return ModelCheck(False, f"could not ask which models are served: {exc}")
    finally:
        close = getattr(provider, "aclose", None)
        if close is not None:
            await close()
