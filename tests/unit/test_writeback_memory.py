"""Conversation memory: the extractive default stays within its token budget; summarisers
are pluggable (a callable, a LangChain Runnable or fake chat model, a LlamaIndex LLM)."""

from __future__ import annotations

import logging
import random

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda
from llama_index.core.llms import MockLLM

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.prompting.tokens import get_token_counter
from llm_featurestore.writeback import ConversationMemory, Turn, as_summarizer, summary_prompt
from llm_featurestore.writeback.memory import turn_line

COUNTER = get_token_counter()
WORDS = ["trail", "shoes", "waterproof", "jacket", "under", "$200", "size", "ten", "blue", "gift"]


def turn(i: int, words: int = 8, answer: str | None = "Try the Pacer Tempo. It fits.") -> Turn:
    rng = random.Random(i)
    query = " ".join(rng.choice(WORDS) for _ in range(words)) + f" #{i}"
    return Turn({"user": "u1"}, query, (f"p{i}", f"p{i + 1}"), answer)


def test_a_turn_is_one_line_with_the_question_what_was_shown_and_the_first_sentence() -> None:
    line = turn_line(Turn({"user": "u"}, "trail\nshoes?", ("p1", "p2"), "Try these. Or not."))
    assert line == "User: trail shoes? | Shown: p1, p2 | Assistant: Try these."
    many = turn_line(Turn({"user": "u"}, "q", tuple(f"p{i}" for i in range(8))))
    assert many == "User: q | Shown: p0, p1, p2, p3, p4 (+3 more)"


@pytest.mark.parametrize("budget", [5, 30, 80, 200])
def test_extractive_memory_stays_within_its_budget_over_many_turns(budget: int) -> None:
    memory = ConversationMemory(COUNTER, max_tokens=budget, max_turns=50)
    text: str | None = None
    for i in range(40):
        text = memory.update(text, turn(i, words=3 + i % 30))
        assert COUNTER.count(text) <= budget
        assert text  # never empty: the newest turn, cut to the budget if it must be
    assert text is not None
    assert "#39" in text or budget < 10  # the newest turn is the one kept


def test_extractive_memory_keeps_the_newest_turns_oldest_dropped_first() -> None:
    memory = ConversationMemory(COUNTER, max_tokens=1000, max_turns=3)
    text: str | None = None
    for i in range(5):
        text = memory.update(text, turn(i))
    assert text is not None
    lines = text.splitlines()
    assert [line.rsplit("#", 1)[1].split(" ")[0] for line in lines] == ["2", "3", "4"]


def test_extractive_memory_needs_no_model_and_ignores_blank_previous_lines() -> None:
    memory = ConversationMemory(COUNTER, max_tokens=100)
    assert memory.summarizer is None
    text = memory.update("\n  \nUser: older | Shown: p0\n", turn(1, answer=None))
    assert text.splitlines()[0] == "User: older | Shown: p0"
    assert "Assistant" not in text.splitlines()[1]


def test_a_callable_summariser_gets_the_summary_so_far_and_the_new_turn() -> None:
    prompts: list[str] = []

    def summarise(prompt: str) -> str:
        prompts.append(prompt)
        return "The user wants trail shoes."

    memory = ConversationMemory(COUNTER, max_tokens=50, summarizer=summarise)
    assert memory.update("Asked about hats.", turn(1)) == "The user wants trail shoes."
    (prompt,) = prompts
    assert prompt == summary_prompt("Asked about hats.", turn(1), 50)
    assert "Summary so far:\nAsked about hats." in prompt
    assert f"New turn:\n{turn_line(turn(1))}" in prompt
    assert "at most 50 tokens" in prompt
    assert "Summary so far:\n(none)" in summary_prompt(None, turn(1), 50)


@pytest.mark.parametrize(
    "model",
    [
        FakeListChatModel(responses=["Chat summary: trail shoes."]),
        FakeListLLM(responses=["Chat summary: trail shoes."]),
        RunnableLambda(lambda prompt: "Chat summary: trail shoes."),
    ],
    ids=["fake-chat-model", "fake-llm", "runnable-lambda"],
)
def test_any_langchain_runnable_summarises(model: object) -> None:
    memory = ConversationMemory(COUNTER, max_tokens=50, summarizer=model)
    assert memory.update(None, turn(1)) == "Chat summary: trail shoes."


def test_a_llamaindex_llm_summarises_and_its_output_is_cut_to_the_budget() -> None:
    # MockLLM without max_tokens echoes the prompt: far longer than the budget.
    memory = ConversationMemory(COUNTER, max_tokens=12, summarizer=MockLLM())
    text = memory.update("earlier turns", turn(1))
    assert 0 < COUNTER.count(text) <= 12
    assert text.startswith("Update the running summary")


def test_a_failing_summariser_falls_back_to_the_extractive_memory_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(prompt: str) -> str:
        raise RuntimeError("model endpoint 503")

    memory = ConversationMemory(COUNTER, max_tokens=100, summarizer=broken)
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
        first = memory.update(None, turn(1))
        memory.update(first, turn(2))
    assert first == memory.extractive(None, turn(1))
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == (
        "Write-back summariser failed (RuntimeError: model endpoint 503); "
        "using the extractive memory"
    )


def test_an_empty_summary_falls_back_to_the_extractive_memory() -> None:
    memory = ConversationMemory(COUNTER, max_tokens=100, summarizer=lambda prompt: "  ")
    assert memory.update(None, turn(1)) == memory.extractive(None, turn(1))


def test_as_summarizer_names_what_it_accepts() -> None:
    with pytest.raises(FeatureConfigError) as err:
        as_summarizer(42)
    message = str(err.value)
    assert "got int" in message
    assert "callable (prompt -> text)" in message
    assert "LangChain Runnable (invoke)" in message
    assert "LlamaIndex LLM (complete)" in message
