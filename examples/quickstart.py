"""The README quickstart: features from a local store, in a token-budgeted prompt block.

Run it with ``python examples/quickstart.py`` (no credentials, no servers). Swap
``LocalFeatureStore`` for ``FeastClient("feature_repo")`` or ``load_client("config.yaml")``
to read a real store; nothing else changes.
"""

from llm_featurestore import EnricherConfig, FeatureEnricher, LocalFeatureStore

store = LocalFeatureStore()  # in memory; LocalFeatureStore("features.json") persists
facts = {"favorite_category": "running", "recent_purchases": ["trail shoes", "socks"]}
store.write_features("u1", "user", facts)
tasks = {"recommend": {"user": ["favorite_category", "recent_purchases"]}}
enricher = FeatureEnricher(store, EnricherConfig(task_features=tasks, max_feature_tokens=100))

result = enricher.enrich("What should I buy next?", user_id="u1", task_type="recommend")
print(result.enriched_prompt)
print(f"{result.feature_tokens_added} tokens added: {result.features_used}")
