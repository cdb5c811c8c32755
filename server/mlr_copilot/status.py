"""The engine at a glance: the LLM spend of the session (`Spend`, from the ledger's snapshot)
and the `status` command's answer. A session that made no call reports zeros, not nothing.
Plain records (`plain.py`), so `status` starts without pydantic; the models that keep a spend
(the auto session, the search journal) hold them as they would a model."""

from __future__ import annotations

from typing import Any, NamedTuple

from .plain import EMPTY_DICT, EMPTY_LIST, pydantic_schema


class Totals(NamedTuple):
    """Calls and tokens of one task or model; `cost_usd` is None when nothing was priced."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced_calls: int = 0
    estimated_calls: int = 0
    # of input_tokens: served from the provider's prefix cache, and written to it
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    # what the priced calls would have cost more without the prefix cache
    saved_usd: float = 0.0

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return pydantic_schema(source, handler)


class Spend(NamedTuple):
    """`Totals` of the whole session (its fields first, the same: a NamedTuple has no base to
    take them from; tests/test_plain.py holds them to it), the budget, and the totals by task
    and by model."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced_calls: int = 0
    estimated_calls: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    saved_usd: float = 0.0
    budget_usd: float | None = None
    budget_tokens: int | None = None
    tasks: dict[str, Totals] = EMPTY_DICT
    models: dict[str, Totals] = EMPTY_DICT

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return pydantic_schema(source, handler)


class Status(NamedTuple):
    version: str
    workspace: str
    provider: str
    model: str
    # the editor's running operations (the LSP server's task runner), as it lists them
    tasks: list[dict[str, str]] = EMPTY_LIST
    usage: Spend = Spend()
