"""Re-score retrieved items by rules on an entity's features: soft filtering.

The :class:`~llm_featurestore.filters.FeatureFilterSpec` that hard-filters a vector
search works here as a preference. Each rule gets a weight; an item (a LlamaIndex node,
a LangChain document) whose metadata satisfies a rule's resolved condition gets that
weight added to its score::

    reranker = FeatureReranker(spec, weights=[0.5, -1.0], top_n=5)
    vector = reranker.vector(reader.read(reranker.request({"user": "u1"})))
    ranked = reranker.rerank(docs, vector, metadata=lambda d: d.metadata, score=score_of)

The decisions live here once, for every framework adapter:

- the arguments: one weight per rule, ``top_n`` at least 1 (:class:`FeatureReranker`);
- which vector may be used: one holding every feature the spec reads, else none (a read
  the monitor refused leaves only the vectors the request already had, which may be
  partial) (:meth:`FeatureReranker.vector`);
- the weighted conditions: rules whose feature has no usable value are skipped, as the
  filter spec drops them (:meth:`FeatureReranker.conditions`);
- the re-scoring (:func:`rescore`): ``new score = score + boost``, where ``boost`` is
  the sum of the weights of the conditions the item's metadata satisfies; a stable sort,
  highest first (ties keep input order); at most ``top_n`` items. Items marked as
  context (``metadata["llmfs_context"]``) stay first, untouched, and do not count
  towards ``top_n``. With no conditions (no user, a degraded read, a refused read, no
  usable feature) items keep their order and scores; ``top_n`` still applies.

Adapters only translate: how their items carry metadata and a score, and how a
:class:`Rescored` becomes a copy of the item recording its boost under
:data:`RERANK_KEY`. Everything here is pure (no I/O).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec, ResolvedCondition
from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import ReadRequest

__all__ = [
    "CONTEXT_KEY",
    "RERANK_KEY",
    "FeatureReranker",
    "Rescored",
    "WeightedCondition",
    "check_top_n",
    "check_weights",
    "rescore",
]

RERANK_KEY = "llmfs_rerank_boost"
"""Item metadata key holding the sum of rule weights added to an item's score."""
CONTEXT_KEY = "llmfs_context"
"""Item metadata key marking a feature-context item (never re-scored or dropped)."""

WeightedCondition = tuple[ResolvedCondition, float]
"""A resolved condition and the weight its rule adds to the score of matching items."""

T = TypeVar("T")


def check_weights(spec: FeatureFilterSpec, weights: Sequence[float] | None) -> list[float]:
    """One finite weight per rule of ``spec``, in rule order; 1.0 each when ``None``.

    Raises:
        FeatureConfigError: not a list, not one weight per rule, or a weight that is
            not a finite number (the message names its position and value).
    """
    if weights is None:
        return [1.0] * len(spec.rules)
    if isinstance(weights, (str, bytes, Mapping)) or not isinstance(weights, Iterable):
        raise FeatureConfigError(
            f"weights must be a list of numbers, one per rule, got {type(weights).__name__} "
            f"{weights!r}"
        )
    checked: list[float] = []
    for i, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            raise FeatureConfigError(
                f"weights[{i}] must be a number, got {type(weight).__name__} {weight!r}"
            )
        if not math.isfinite(weight):
            raise FeatureConfigError(f"weights[{i}] must be a finite number, got {weight!r}")
        checked.append(float(weight))
    if len(checked) != len(spec.rules):
        raise FeatureConfigError(
            f"weights has {len(checked)} value(s) but the spec has {len(spec.rules)} "
            "rule(s); give one weight per rule, in rule order"
        )
    return checked


def check_top_n(top_n: int | None) -> int | None:
    """``top_n`` when it is ``None`` or an integer of at least 1.

    Raises:
        FeatureConfigError: anything else (the message names the value).
    """
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise FeatureConfigError(f"top_n must be at least 1 (or None for all), got {top_n!r}")
    return top_n


@dataclass(frozen=True)
class Rescored(Generic[T]):
    """One item of :func:`rescore`'s answer.

    Attributes:
        item: The input item, unchanged.
        boost: The sum of the weights of the conditions its metadata satisfies;
            ``None`` when it was not re-scored (a context item, or no conditions), so
            the adapter returns the item as it came.
        score: Its new score (``score + boost``; the input score when not re-scored).
    """

    item: T
    boost: float | None
    score: float


def rescore(
    items: Sequence[T],
    weighted: Sequence[WeightedCondition],
    *,
    metadata: Callable[[T], Mapping[str, Any]],
    score: Callable[[T], float],
    top_n: int | None = None,
) -> list[Rescored[T]]:
    """Re-score ``items`` by weighted conditions (see the module docstring).

    Args:
        items: In retrieval order.
        weighted: The conditions and their weights (:meth:`FeatureReranker.conditions`).
        metadata: An item's metadata, which the conditions are matched against.
        score: An item's score before re-ranking (0.0 for an item without one).
        top_n: Keep at most this many items (context items excepted); ``None``: all.

    Returns:
        The context items first, in input order, then the others by new score, highest
        first, ties in input order; at most ``top_n`` of the latter.
    """
    context = [item for item in items if metadata(item).get(CONTEXT_KEY)]
    others = [item for item in items if not metadata(item).get(CONTEXT_KEY)]
    kept = [Rescored(item, None, score(item)) for item in context]
    if weighted:
        ranked = []
        for item in others:
            meta = metadata(item)
            boost = sum((weight for cond, weight in weighted if cond.matches(meta)), 0.0)
            ranked.append(Rescored(item, boost, score(item) + boost))
        ranked.sort(key=lambda r: r.score, reverse=True)  # stable: ties keep input order
    else:
        ranked = [Rescored(item, None, score(item)) for item in others]
    return [*kept, *(ranked if top_n is None else ranked[:top_n])]


class FeatureReranker:
    """A validated rerank configuration: the rules, their weights and ``top_n``.

    Args:
        spec: The rules, over one entity type.
        weights: One weight per rule, in rule order (positive boosts, negative demotes);
            1.0 for every rule when ``None``.
        top_n: Keep at most this many items (context items excepted); ``None`` keeps all.

    Raises:
        FeatureConfigError: ``weights`` does not have one finite number per rule, or
            ``top_n`` is not an integer of at least 1.
    """

    def __init__(
        self,
        spec: FeatureFilterSpec,
        *,
        weights: Sequence[float] | None = None,
        top_n: int | None = None,
    ) -> None:
        self.spec = spec
        self.weights = tuple(check_weights(spec, weights))
        self.top_n = check_top_n(top_n)

    @property
    def entity_type(self) -> str:
        """The entity type whose features the rules read."""
        return self.spec.entity_type

    def required_features(self) -> dict[str, list[str]]:
        """Features the rules read, per entity type: ``{entity_type: names}``."""
        return {self.spec.entity_type: self.spec.feature_names}

    def request(
        self,
        entities: Mapping[str, str],
        known: Mapping[str, FeatureVector] | None = None,
        *,
        query: str | None = None,
        inputs: Sequence[Mapping[str, Any]] = (),
    ) -> ReadRequest:
        """The read (for :class:`~llm_featurestore.reading.FeatureReader`) these rules
        need for ``entities``; ``known`` vectors are reused, only what they lack is read
        (nothing, when they hold every feature). The spec's ``request_data`` is resolved
        from ``query`` (the query text) and ``inputs`` (the request's input mappings).

        Raises:
            FeatureValidationError: a declared request-data source is missing.
        """
        data = self.spec.request_data.resolve(query=query, inputs=inputs, entity_types=entities)
        return ReadRequest(
            entities,
            self.required_features(),
            known={} if known is None else known,
            request_data=data,
        )

    def vector(self, vectors: Mapping[str, FeatureVector]) -> FeatureVector | None:
        """The entity's vector when it holds every feature the rules read, else ``None``."""
        vector = vectors.get(self.spec.entity_type)
        names = self.spec.feature_names
        if vector is None or any(name not in vector.statuses for name in names):
            return None
        return vector

    def conditions(self, vector: FeatureVector | None) -> list[WeightedCondition]:
        """Each rule whose feature has a usable value in ``vector``, resolved, with its
        weight; in rule order. ``None`` (no entity) gives none.

        Raises:
            FeatureConfigError: ``vector`` is of another entity type, or lacks a feature
                a rule reads (see :meth:`FeatureFilterSpec.resolve`).
        """
        if vector is None:
            return []
        return [
            (cond, weight)
            for rule, weight in zip(self.spec.rules, self.weights, strict=True)
            for cond in self.spec.model_copy(update={"rules": [rule]}).resolve(vector)
        ]

    def rerank(
        self,
        items: Sequence[T],
        vector: FeatureVector | None,
        *,
        metadata: Callable[[T], Mapping[str, Any]],
        score: Callable[[T], float],
    ) -> list[Rescored[T]]:
        """:func:`rescore` ``items`` by the conditions ``vector`` resolves, with ``top_n``."""
        return rescore(
            items, self.conditions(vector), metadata=metadata, score=score, top_n=self.top_n
        )
