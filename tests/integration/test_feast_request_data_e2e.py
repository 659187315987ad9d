"""Request data end to end on real Feast: a chain input reaches an on-demand view.

``feast init``'s ``transformed_conv_rate`` adds the request field ``val_to_add`` to a
driver's ``conv_rate``. The task declares once where the field comes from
(``input.cart_items``); the enricher, a ServingClient (cache included) and the
LangChain enricher runnable all pass it into the one read flow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from langchain_featurestore import FeatureEnricherRunnable
from llm_featurestore import EnricherConfig, FeatureEnricher
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.errors import FeatureValidationError
from llm_featurestore.serving import CacheConfig, ServingClient
from tests.fixtures import feast_init_repo as fi

REF = f"{fi.PANDAS_VIEW}:conv_rate_plus_val1"
TASK = "dispatch"


@pytest.fixture(scope="module")
def enricher(feast_init_repo: Path) -> FeatureEnricher:
    client = ServingClient(
        FeastClient(feast_init_repo), timeout_ms=None, cache=CacheConfig(ttl_seconds=60)
    )
    config = EnricherConfig(
        task_features={TASK: {fi.ENTITY: [REF]}},
        request_data={
            TASK: {fi.ENTITY: {"val_to_add": "input.cart_items", "val_to_add_2": "input.extra"}}
        },
        entity_labels={fi.ENTITY: "Driver"},
    )
    return FeatureEnricher(client, config)


def _value(result_prompt: str) -> float:
    line = next(x for x in result_prompt.splitlines() if "plus val1" in x.lower())
    return float(line.rsplit(":", 1)[1])


@pytest.mark.parametrize("use_async", [False, True])
async def test_each_inputs_request_data_reaches_the_on_demand_view(
    enricher: FeatureEnricher, feast_init_repo: Path, use_async: bool
) -> None:
    rate = fi.conv_rates(feast_init_repo)["1001"]
    assert rate is not None
    runnable = FeatureEnricherRunnable(enricher, task_type=TASK, prompt_key="question")
    seen = []
    for items in (1, 5, 1):  # the third is a cache hit for the first's request data
        request = {"question": "q", "driver_id": "1001", "cart_items": items, "extra": 0}
        out = await runnable.ainvoke(request) if use_async else runnable.invoke(request)
        seen.append(_value(out if isinstance(out, str) else str(out)))
    assert seen == pytest.approx([rate + 1, rate + 5, rate + 1], abs=0.006)  # shown to 2 places


def test_a_missing_input_names_the_key_and_the_keys_present(enricher: FeatureEnricher) -> None:
    with pytest.raises(FeatureValidationError, match=r"cart_items.*driver_id"):
        enricher.enrich("q", task_type=TASK, context={fi.ENTITY: "1001"}, inputs={"driver_id": 1})
