"""Token and dollar accounting, and the budget cap that stops work cleanly.

Prices are list prices in USD per million input/output tokens; prompt tokens a provider's prefix
cache served (or, at Anthropic, wrote) are priced at the provider's cached rate. Models not
listed (local models, new releases) are still counted in tokens; their cost is None rather than
a guess.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlr_copilot.llm.base import BudgetExceededError, LLMError, Usage
from mlr_copilot.llm.providers import all_prices
from mlr_copilot.llm.spec import Price
from mlr_copilot.state import write_json

log = logging.getLogger(__name__)

# Every provider's list prices (each provider's spec holds its own).
PRICES: dict[str, Price] = all_prices()


def price_for(model: str, prices: Mapping[str, Price] = PRICES) -> Price | None:
    """The (input, output) price of `model`: the longest listed name it starts with, so dated
    snapshots ("gpt-4o-2024-08-06", "claude-3-5-sonnet-latest") and "openai/gpt-4o" match."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    best: str | None = None
    for listed in prices:
        matches = name == listed or (name.startswith(listed) and name[len(listed)] in "-:@")
        if matches and (best is None or len(listed) > len(best)):
            best = listed
    return prices[best] if best else None


def _cache_rates(price: Price) -> tuple[float, float]:
    """The prices of a prompt token read from and written to the prefix cache."""
    return (price.input if price.cached_input is None else price.cached_input,
            price.input if price.cache_write is None else price.cache_write)


def cost_of(model: str, usage: Usage, prices: Mapping[str, Price] = PRICES) -> float | None:
    price = price_for(model, prices)
    if price is None:
        return None
    read, written = usage.cached_input_tokens, usage.cache_write_tokens
    fresh = usage.input_tokens - read - written
    cached, write = _cache_rates(price)
    return (fresh * price.input + read * cached + written * write + usage.output_tokens * price.output) / 1_000_000


def saved_by_cache(model: str, usage: Usage, prices: Mapping[str, Price] = PRICES) -> float | None:
    """What `usage`'s prompt would have cost more without the provider's prefix cache: the
    discount of the tokens read from it less, at Anthropic, the premium of those written to it.
    None when the model has no known price."""
    price = price_for(model, prices)
    if price is None:
        return None
    cached, write = _cache_rates(price)
    return (usage.cached_input_tokens * (price.input - cached)
            - usage.cache_write_tokens * (write - price.input)) / 1_000_000


@dataclass
class Totals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    # Calls whose model has no known price: their tokens count, their cost does not.
    unpriced_calls: int = 0
    estimated_calls: int = 0
    # of input_tokens: served from the provider's prefix cache, and written to it
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    # what the priced calls would have cost more without the prefix cache
    saved_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, usage: Usage, cost: float | None, saved: float | None = None) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cached_input_tokens += usage.cached_input_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += cost
        self.saved_usd += saved or 0.0
        if usage.estimated:
            self.estimated_calls += 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        # None when nothing was priced, so "free" and "unknown" are not confused.
        data["cost_usd"] = None if self.calls and self.unpriced_calls == self.calls else round(self.cost_usd, 6)
        data["saved_usd"] = round(self.saved_usd, 6)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Totals:
        return cls(
            calls=int(data.get("calls", 0)),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cost_usd=float(data.get("cost_usd") or 0.0),
            unpriced_calls=int(data.get("unpriced_calls", 0)),
            estimated_calls=int(data.get("estimated_calls", 0)),
            cached_input_tokens=int(data.get("cached_input_tokens", 0)),
            cache_write_tokens=int(data.get("cache_write_tokens", 0)),
            saved_usd=float(data.get("saved_usd") or 0.0),
        )


@dataclass
class _State:
    session: Totals = field(default_factory=Totals)
    tasks: dict[str, Totals] = field(default_factory=dict)
    models: dict[str, Totals] = field(default_factory=dict)


class Ledger:
    """Per-session and per-task spend, shared by every call of a session; thread-safe.

    With `path`, every charge is saved there at once, so a crash loses no spend."""

    def __init__(
        self,
        budget_usd: float | None = None,
        budget_tokens: int | None = None,
        *,
        prices: Mapping[str, Price] | None = None,
        path: Path | None = None,
    ):
        self.budget_usd = budget_usd
        self.budget_tokens = budget_tokens
        self.prices = dict(PRICES if prices is None else prices)
        self.path = Path(path) if path else None
        self._state = _State()
        self._lock = threading.RLock()
        self._warned_unpriced = False

    def set_budget(self, budget_usd: float | None, budget_tokens: int | None) -> None:
        with self._lock:
            self.budget_usd = budget_usd
            self.budget_tokens = budget_tokens

    def charge(self, task: str, provider: str, model: str, usage: Usage) -> float | None:
        """Record one call; returns its cost (None when the model's price is unknown)."""
        cost = cost_of(model, usage, self.prices)
        saved = saved_by_cache(model, usage, self.prices)
        with self._lock:
            state = self._state
            state.session.add(usage, cost, saved)
            state.tasks.setdefault(task, Totals()).add(usage, cost, saved)
            state.models.setdefault(f"{provider}:{model}", Totals()).add(usage, cost, saved)
            problem = self._over_budget()
            if self.path:
                self.save(self.path)
        if problem:
            # The call that crossed the cap is kept; the next one is refused by check_budget.
            log.warning("LLM budget used up after task '%s': %s", task, problem)
        return cost

    def _over_budget(self) -> str | None:
        session = self._state.session
        if self.budget_tokens is not None and session.total_tokens >= self.budget_tokens:
            return f"{session.total_tokens} tokens spent of a {self.budget_tokens}-token budget"
        if self.budget_usd is not None and session.cost_usd >= self.budget_usd:
            return f"${session.cost_usd:.4f} spent of a ${self.budget_usd:g} budget"
        return None

    def _would_cross(self, model: str, upcoming: Usage) -> str | None:
        if self.budget_usd is None:
            return None
        cost = cost_of(model, upcoming, self.prices)
        if cost is None:
            if self.budget_tokens is None and not self._warned_unpriced:
                self._warned_unpriced = True
                log.warning("%s has no known price, so the $%g budget cannot stop its calls; "
                            "cap them with llm.budgetTokens (MLR_BUDGET_TOKENS)", model, self.budget_usd)
            return None
        spent = self._state.session.cost_usd
        if spent + cost <= self.budget_usd:
            return None
        return (f"the next call could cost ${cost:.4f} ({upcoming.input_tokens} prompt tokens and up to "
                f"{upcoming.output_tokens} output tokens at {model}'s price), with ${spent:.4f} spent of a "
                f"${self.budget_usd:g} budget")

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self._over_budget() is not None

    def check_budget(self, model: str | None = None, upcoming: Usage | None = None) -> None:
        """Refuse a call once the budget is spent, or when `upcoming` (the call's estimated prompt
        and its output cap) at `model`'s list price could cross the dollar budget. Models with no
        known price can only be capped in tokens."""
        with self._lock:
            problem = self._over_budget() or (self._would_cross(model, upcoming) if model and upcoming else None)
        if problem:
            raise BudgetExceededError(
                f"LLM budget exceeded: {problem}. Raise llm.budgetUsd / llm.budgetTokens "
                "(or MLR_BUDGET_USD / MLR_BUDGET_TOKENS, or --budget) to continue; models with no known "
                "price count only against llm.budgetTokens."
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self._state
            return {
                **state.session.to_dict(),
                "budget_usd": self.budget_usd,
                "budget_tokens": self.budget_tokens,
                "tasks": {name: totals.to_dict() for name, totals in state.tasks.items()},
                "models": {name: totals.to_dict() for name, totals in state.models.items()},
            }

    def task_totals(self, task: str) -> Totals:
        with self._lock:
            return Totals(**asdict(self._state.tasks.get(task, Totals())))

    def save(self, path: Path) -> None:
        with self._lock:
            state = self._state
            data = {
                "session": asdict(state.session),
                "tasks": {name: asdict(t) for name, t in state.tasks.items()},
                "models": {name: asdict(t) for name, t in state.models.items()},
            }
        write_json(Path(path), data)

    @classmethod
    def load(
        cls,
        path: Path,
        budget_usd: float | None = None,
        budget_tokens: int | None = None,
        *,
        prices: Mapping[str, Price] | None = None,
        autosave: bool = True,
    ) -> Ledger:
        """The ledger saved at `path` (empty when there is none); budgets come from settings, not
        the file, so a user can raise the cap and resume. With `autosave`, charges save back to `path`."""
        path = Path(path)
        ledger = cls(budget_usd, budget_tokens, prices=prices, path=path if autosave else None)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ledger
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LLMError(
                f"The spend ledger {path} is unreadable ({exc}); fix or delete it to start counting afresh"
            ) from None
        try:
            ledger._state = _State(
                session=Totals.from_dict(data["session"]),
                tasks={k: Totals.from_dict(v) for k, v in data.get("tasks", {}).items()},
                models={k: Totals.from_dict(v) for k, v in data.get("models", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LLMError(
                f"The spend ledger {path} is malformed ({type(exc).__name__}: {exc}); "
                "fix or delete it to start counting afresh"
            ) from None
        return ledger
