from __future__ import annotations

import json
import threading

import pytest

from mlr_copilot.llm.accounting import Ledger, cost_of, price_for
from mlr_copilot.llm.base import BudgetExceededError, LLMError, Usage
from mlr_copilot.plain import from_json
from mlr_copilot.status import Spend


@pytest.mark.parametrize(
    "model,price",
    [
        ("gpt-4o", (2.50, 10.00)),
        ("gpt-4o-2024-08-06", (2.50, 10.00)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.60)),
        ("gpt-4.1-mini", (0.40, 1.60)),
        ("o3-mini", (1.10, 4.40)),
        ("claude-3-5-sonnet-latest", (3.00, 15.00)),
        ("claude-3-5-haiku-20241022", (0.80, 4.00)),
        ("claude-sonnet-4-20250514", (3.00, 15.00)),
        ("claude-opus-4-20250514", (15.00, 75.00)),
        ("openai/gpt-4o-mini", (0.15, 0.60)),
    ],
)
def test_known_prices(model, price):
    assert price_for(model)[:2] == price


def test_cached_prompt_tokens_cost_the_cached_price_and_are_reported():
    ledger = Ledger()
    # gpt-4o: $2.50 input, $1.25 cached input; claude-3-5-haiku: $0.80 input, $0.08 read, $1.00 write
    assert ledger.charge("search:improve", "openai", "gpt-4o", Usage(1_000_000, 0, cached_input_tokens=800_000)) == \
        pytest.approx(0.2 * 2.5 + 0.8 * 1.25)
    assert ledger.charge("implement:h1", "anthropic", "claude-3-5-haiku", Usage(
        1_000_000, 0, cached_input_tokens=600_000, cache_write_tokens=300_000)) == pytest.approx(0.1 * 0.8 + 0.6 * 0.08 + 0.3 * 1.0)
    # no published cached price: those tokens cost the input price
    assert cost_of("gpt-4-turbo", Usage(1_000_000, 0, cached_input_tokens=1_000_000)) == pytest.approx(10.0)
    snap = ledger.snapshot()
    assert (snap["cached_input_tokens"], snap["cache_write_tokens"]) == (1_400_000, 300_000)
    assert snap["tasks"]["implement:h1"]["cached_input_tokens"] == 600_000
    assert from_json(Spend, snap).cached_input_tokens == 1_400_000


def test_the_ledger_counts_what_the_cache_saved_at_the_cached_prices():
    ledger = Ledger()
    # gpt-4o: 800k tokens read at $1.25 instead of $2.50
    ledger.charge("search:improve", "openai", "gpt-4o", Usage(1_000_000, 0, cached_input_tokens=800_000))
    # claude-3-5-haiku: 600k read at $0.08 instead of $0.80, less 300k written at $1.00 instead of $0.80
    ledger.charge("implement:h1", "anthropic", "claude-3-5-haiku", Usage(
        1_000_000, 0, cached_input_tokens=600_000, cache_write_tokens=300_000))
    # no published cached price, and no price at all: nothing saved
    ledger.charge("search:improve", "openai", "gpt-4-turbo", Usage(1_000_000, 0, cached_input_tokens=1_000_000))
    ledger.charge("search:improve", "openai", "llama3.1", Usage(1_000_000, 0, cached_input_tokens=1_000_000))
    snap = ledger.snapshot()
    assert snap["saved_usd"] == pytest.approx(0.8 * 1.25 + 0.6 * 0.72 - 0.3 * 0.2)
    assert snap["tasks"]["implement:h1"]["saved_usd"] == pytest.approx(0.6 * 0.72 - 0.3 * 0.2)
    assert from_json(Spend, snap).saved_usd == pytest.approx(snap["saved_usd"])


def test_a_ledger_saved_before_cached_tokens_were_counted_loads(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps({"session": {"calls": 1, "input_tokens": 10, "output_tokens": 2, "cost_usd": 0.1}}))
    ledger = Ledger.load(path)
    ledger.charge("t", "openai", "gpt-4o", Usage(10, 0, cached_input_tokens=4))
    assert Ledger.load(path).snapshot()["cached_input_tokens"] == 4


@pytest.mark.parametrize("model", ["llama3.1", "scripted", "qwen2.5-coder:7b", "gpt-4ox", "o1x"])
def test_unknown_models_have_no_price(model):
    assert price_for(model) is None
    assert cost_of(model, Usage(100, 100)) is None


def test_unknown_model_counts_tokens_but_not_cost():
    ledger = Ledger()
    assert ledger.charge("ideas", "openai-compatible", "llama3.1", Usage(500, 50)) is None
    snap = ledger.snapshot()
    assert snap["total_tokens"] == 550
    assert snap["cost_usd"] is None and snap["tasks"]["ideas"]["cost_usd"] is None
    assert snap["unpriced_calls"] == 1


def test_per_task_and_per_model_totals():
    ledger = Ledger()
    ledger.charge("ideas", "openai", "gpt-4o", Usage(1_000_000, 0))
    ledger.charge("implement:h1", "openai", "gpt-4o", Usage(0, 100_000))
    ledger.charge("implement:h1", "scripted", "scripted", Usage(10, 10, estimated=True))
    snap = ledger.snapshot()
    assert snap["tasks"]["ideas"]["cost_usd"] == pytest.approx(2.5)
    assert snap["tasks"]["implement:h1"]["cost_usd"] == pytest.approx(1.0)
    assert snap["tasks"]["implement:h1"]["calls"] == 2
    assert snap["tasks"]["implement:h1"]["estimated_calls"] == 1
    assert snap["cost_usd"] == pytest.approx(3.5)
    assert snap["models"]["openai:gpt-4o"]["calls"] == 2
    assert ledger.task_totals("ideas").input_tokens == 1_000_000


def test_budget_checked_before_and_after():
    ledger = Ledger(budget_tokens=100)
    ledger.check_budget()
    ledger.charge("t", "openai", "gpt-4o", Usage(90, 5))
    ledger.check_budget()
    ledger.charge("t", "openai", "gpt-4o", Usage(90, 5))  # the crossing call is recorded, not refused
    assert ledger.exhausted
    with pytest.raises(BudgetExceededError, match="190 tokens spent of a 100-token budget"):
        ledger.check_budget()
    ledger.set_budget(None, 1000)
    ledger.check_budget()


def test_concurrent_charges_are_all_counted():
    ledger = Ledger()

    def work(task: str) -> None:
        for _ in range(500):
            ledger.charge(task, "openai", "gpt-4o-mini", Usage(3, 2))

    threads = [threading.Thread(target=work, args=(f"task{i % 4}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = ledger.snapshot()
    assert snap["calls"] == 4000
    assert snap["input_tokens"] == 12000 and snap["output_tokens"] == 8000
    assert sum(t["calls"] for t in snap["tasks"].values()) == 4000


def test_save_and_load_keeps_the_spend_and_takes_budget_from_the_caller(tmp_path):
    path = tmp_path / ".mlr" / "ledger.json"
    ledger = Ledger(budget_usd=1.0, path=path)
    ledger.charge("ideas", "anthropic", "claude-3-5-sonnet-20241022", Usage(100_000, 20_000))
    assert path.is_file()  # saved on every charge

    resumed = Ledger.load(path, budget_usd=0.5)
    assert resumed.snapshot()["cost_usd"] == pytest.approx(0.6)
    assert resumed.snapshot()["tasks"]["ideas"]["input_tokens"] == 100_000
    with pytest.raises(BudgetExceededError):
        resumed.check_budget()
    resumed.charge("ideas", "anthropic", "claude-3-5-sonnet-20241022", Usage(10, 10))
    assert json.loads(path.read_text())["session"]["calls"] == 2

    assert Ledger.load(tmp_path / "absent.json").snapshot()["calls"] == 0


def test_corrupt_ledger_is_a_clear_error(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("{ half")
    with pytest.raises(LLMError, match=r"ledger.json is unreadable"):
        Ledger.load(path)
    path.write_text('{"tasks": {}}')
    with pytest.raises(LLMError, match=r"ledger.json is malformed"):
        Ledger.load(path)
    assert path.read_text() == '{"tasks": {}}'


def test_a_call_that_could_cross_the_dollar_budget_is_refused_before_it_is_sent():
    ledger = Ledger(budget_usd=0.001)
    # gpt-4o-mini: 1,000 prompt tokens and up to 4,096 output tokens cost at most $0.0026
    with pytest.raises(BudgetExceededError, match=r"could cost \$0.0026 .* of a \$0.001 budget"):
        ledger.check_budget("gpt-4o-mini", Usage(1000, 4096))
    ledger.check_budget("gpt-4o-mini", Usage(1000, 1000))  # $0.00075 fits
    ledger.charge("t", "openai", "gpt-4o-mini", Usage(1000, 1000))
    with pytest.raises(BudgetExceededError, match=r"\$0.0008 spent"):
        ledger.check_budget("gpt-4o-mini", Usage(1000, 1000))  # $0.0015 in all would not


def test_an_unpriced_model_is_capped_only_by_tokens(caplog):
    ledger = Ledger(budget_usd=0.01)
    ledger.check_budget("llama3.1", Usage(1000, 4096))  # a dollar budget cannot price it
    assert "llama3.1 has no known price" in caplog.text and "budgetTokens" in caplog.text
    capped = Ledger(budget_usd=0.01, budget_tokens=0)
    with pytest.raises(BudgetExceededError, match="0 tokens spent of a 0-token budget"):
        capped.check_budget("llama3.1", Usage(1000, 4096))
