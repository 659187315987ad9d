"""Put the right feature-store facts in front of a prompt, inside a token budget.

:class:`FeatureEnricher` looks up the features a task needs (one batch call per
entity type, the entity types fetched concurrently), drops what is missing, stale,
sensitive or over budget, and prepends one context block::

    [Context from user profile]
    - Recent activity: shoes, jacket, belt
    - Preference: casual athletic
    [End context]

    {original prompt}

Everything after the lookups is pure and synchronous (:meth:`FeatureEnricher.
enrich_from_vectors`), so :meth:`~FeatureEnricher.enrich` and
:meth:`~FeatureEnricher.aenrich` differ only in how they fetch, and framework
adapters can fetch once and reuse the same vectors for filtering and prompting.

Guarantees of every :class:`EnrichmentResult`:

* ``feature_tokens_added`` is the exact tiktoken count of the context block plus the
  blank line that separates it from the prompt, and never exceeds
  ``max_feature_tokens``;
* the enriched prompt is either the original prompt unchanged, or the block, a blank
  line and the original prompt unchanged; the block has exactly one header line, one
  footer line and, between them, only ``- Label: value`` lines, whatever the feature
  values contain (see :mod:`llm_featurestore.sanitize`);
* a missing, null, stale, failed or dropped feature never appears in the prompt.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.formatting import FormattedValue, format_value, humanize, is_empty, join_items
from llm_featurestore.models import USABLE_STATUSES, FeatureStatus, FeatureVector, utcnow
from llm_featurestore.prompting.results import DropReason, EnrichmentResult, FeatureProvenance
from llm_featurestore.reading import MONITOR_DISABLED, FeatureReader, FeatureVectors, ReadRequest
from llm_featurestore.sanitize import (
    ELLIPSIS,
    Neutralizer,
    SensitiveStrategy,
    hash_value,
    is_pii_name,
    mask_value,
)
from llm_featurestore.tokens import TokenCounter, get_token_counter

if TYPE_CHECKING:
    from llm_featurestore.clients.base import FeatureStoreClient
    from llm_featurestore.monitor import FeatureMonitor

__all__ = [
    "DEFAULT_ENABLED_TASK_TYPES",
    "DEFAULT_FOOTER",
    "DEFAULT_HEADER",
    "DropReason",
    "EnricherConfig",
    "EnrichmentResult",
    "FeatureEnricher",
    "FeatureProvenance",
    "LookupPlan",
    "default_task_features",
]

logger = logging.getLogger(__name__)

DEFAULT_HEADER = "[Context from user profile]"
DEFAULT_FOOTER = "[End context]"
DEFAULT_ENABLED_TASK_TYPES = ("general", "summarization", "faq")
HASH_SALT_ENV = "LLM_FEATURESTORE_HASH_SALT"
_SEPARATOR = "\n\n"
_FIX_MAPPING = (
    "Fix task_features (or default_features) in EnricherConfig to name features the store has."
)
_MIN_SHORTENED_VALUE_TOKENS = 2


@lru_cache(maxsize=1)
def _default_task_yaml() -> dict[str, Any]:
    text = (
        resources.files("llm_featurestore")
        .joinpath("data/default_tasks.yaml")
        .read_text(encoding="utf-8")
    )
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def default_task_features() -> dict[str, dict[str, list[str]]]:
    """The default task mapping (``llm_featurestore/data/default_tasks.yaml``), a fresh copy.

    ``product_recommendation`` (user: purchase_history, browsing, preferences),
    ``customer_support`` (user: tier, recent_tickets, product_owned),
    ``content_generation`` (organization: brand_voice, tone, style_guide) and
    ``code_generation`` (user: language_preferences, framework_history).
    """
    mapping = _default_task_yaml()["task_features"]
    return {task: {et: list(names) for et, names in ents.items()} for task, ents in mapping.items()}


def _salt_from_env() -> SecretStr | None:
    value = os.environ.get(HASH_SALT_ENV)
    return SecretStr(value) if value else None


class EnricherConfig(BaseModel):
    """What the enricher looks up for each task, and how it renders and protects it.

    YAML files of the same shape load with :meth:`from_yaml`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_feature_tokens: int = Field(
        200, ge=1, description="Most tokens the block (header, lines, footer, blank line) may use."
    )
    freshness_threshold_seconds: float | None = Field(
        None,
        gt=0,
        description="None (the default) trusts the store's own staleness rule (a Feast "
        "view's ttl, max_age_seconds for Redis and local): STALE values are dropped. A "
        "number is a stricter override: values older than this (by event timestamp) are "
        "dropped as stale too.",
    )
    task_features: dict[str, dict[str, list[str]]] = Field(
        default_factory=default_task_features,
        description="task type -> entity type -> feature names, highest priority first "
        "(entity types in mapping order, then features in list order).",
    )
    default_features: dict[str, list[str]] = Field(
        default_factory=dict,
        description="entity type -> feature names for enabled task types with no mapping.",
    )
    enabled_task_types: list[str] = Field(
        default_factory=list,
        description='Task types that are enriched; by default "general", "summarization", '
        '"faq" and every task in task_features. Others pass through unchanged.',
    )
    sensitive_features: list[str] = Field(
        default_factory=list,
        description='Features treated as sensitive, as "name" or "entity_type.name", on top '
        "of what the catalog marks confidential or pii.",
    )
    sensitive_policy: dict[str, dict[str, SensitiveStrategy]] = Field(
        default_factory=dict,
        description='task type (or "*" for every task) -> feature ("name", '
        '"entity_type.name" or "*") -> "drop", "mask", "hash" or "allow". Sensitive features '
        "with no entry are dropped.",
    )
    defaults_in_prompt: list[str] = Field(
        default_factory=list,
        description="Task types whose prompts may show cold-start defaults (DEFAULTED "
        "values), rendered as 'unknown (default X)', never as a fact about the user. "
        "Elsewhere defaults serve filters and code but stay out of the prompt.",
    )
    detect_pii_names: bool = Field(
        True,
        description="Also treat features whose names look like personal data (email, phone, "
        "address, dob, ssn, card, iban, ...) as sensitive.",
    )
    hash_salt: SecretStr | None = Field(
        default_factory=_salt_from_env,
        description=f"Key for the 'hash' strategy; defaults to ${HASH_SALT_ENV}.",
    )
    header: str = Field(DEFAULT_HEADER, description="First line of the block.")
    footer: str = Field(DEFAULT_FOOTER, description="Last line of the block.")
    entity_labels: dict[str, str] = Field(
        default_factory=lambda: {"user": ""},
        description="entity type -> prefix for its labels; '' for none. Entity types not "
        'listed use their humanised name ("organization" -> "Organization brand voice").',
    )
    encoding: str = Field("cl100k_base", description="tiktoken encoding for counting tokens.")
    max_value_chars: int = Field(200, ge=16, description="Longest rendered value, in characters.")
    max_label_chars: int = Field(60, ge=8, description="Longest label, in characters.")
    max_list_items: int = Field(10, ge=1, description="Most list items shown before '(+N more)'.")

    @model_validator(mode="before")
    @classmethod
    def _default_enabled(cls, data: Any) -> Any:
        if isinstance(data, dict) and "enabled_task_types" not in data:
            mapping = data.get("task_features")
            tasks = list(mapping) if isinstance(mapping, dict) else list(default_task_features())
            data = {
                **data,
                "enabled_task_types": list(dict.fromkeys([*DEFAULT_ENABLED_TASK_TYPES, *tasks])),
            }
        return data

    @model_validator(mode="after")
    def _check(self) -> EnricherConfig:
        for name, marker in (("header", self.header), ("footer", self.footer)):
            if not marker.strip() or marker != marker.strip() or not marker.isprintable():
                raise ValueError(
                    f"{name} must be one line of printable text with no leading or trailing "
                    f"space, got {marker!r}"
                )
            if marker.startswith("- "):
                raise ValueError(f"{name} may not start with '- ' (that is a feature line)")
        if self.header == self.footer:
            raise ValueError(f"header and footer must differ, both are {self.header!r}")
        uses_hash = any(s == "hash" for p in self.sensitive_policy.values() for s in p.values())
        if uses_hash and self.hash_salt is None:
            raise ValueError(
                "sensitive_policy uses the 'hash' strategy but no hash_salt is set: set "
                f"hash_salt=... or the {HASH_SALT_ENV} environment variable"
            )
        for task, ents in self.task_features.items():
            for entity_type, names in ents.items():
                if not names:
                    raise ValueError(
                        f"task_features[{task!r}][{entity_type!r}] is empty: list at least one "
                        "feature or remove the entity type"
                    )
        return self

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> EnricherConfig:
        """Load a config from a YAML file: its top level, or its ``enricher:`` section.

        Raises:
            FeatureConfigError: the file cannot be read or parsed, or a value is invalid;
                the message names the file and the field.
        """
        p = Path(path)
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise FeatureConfigError(f"Cannot read enricher config {p}: {exc}") from exc
        if isinstance(doc, dict) and "enricher" in doc:
            # A shared config file: use its enricher section, ignore the others.
            doc = doc["enricher"] or {}
        if not isinstance(doc, dict):
            raise FeatureConfigError(
                f"Enricher config {p} must be a mapping of EnricherConfig fields, "
                f"got {type(doc).__name__}"
            )
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise FeatureConfigError(f"Invalid enricher config {p}: {exc}") from exc


class _Definition(Protocol):
    @property
    def display_label(self) -> str: ...
    @property
    def is_sensitive(self) -> bool: ...


class SupportsCatalog(Protocol):
    """What the enricher needs from a :class:`~llm_featurestore.catalog.FeatureCatalog`."""

    def get(self, entity_type: str, name: str) -> _Definition | None: ...


@dataclass(frozen=True)
class LookupPlan:
    """The lookups one enrichment needs: one batch call per entity type.

    ``skipped_reason`` is set (and ``features`` empty) when nothing should be fetched.
    """

    task_type: str
    entities: dict[str, str] = field(default_factory=dict)
    """entity type -> entity id."""
    features: dict[str, list[str]] = field(default_factory=dict)
    """entity type -> feature names, for the entity types in ``entities``."""
    skipped_reason: str | None = None


@dataclass
class _Candidate:
    entity_type: str
    name: str
    label: str
    value: FormattedValue
    line: str
    provenance: dict[str, Any]


_is_pii_name = lru_cache(maxsize=4096)(is_pii_name)
_humanize = lru_cache(maxsize=4096)(humanize)


class FeatureEnricher:
    """Adds a token-budgeted, injection-safe context block of feature facts to prompts.

    Args:
        client: Where features are read from (any :class:`FeatureStoreClient`, e.g. a
            ``ServingClient`` with timeouts and a cache).
        config: Task mapping, budget and policies; the defaults when omitted.
        catalog: Labels and sensitivity per feature (``FeatureCatalog``).
        monitor: When given, the store is not read while ``monitor.should_read(task)``
            is False (the result is a pass-through, ``skipped_reason="monitor_disabled"``),
            and every enrichment that ran is passed to ``monitor.record_enrichment``.
        record_vectors: Also pass the vectors read to ``monitor.record_enrichment``
            (``vectors=``, which ``FeatureMonitor`` uses for drift). Off by default: turn
            it on instead of calling ``monitor.record_vector`` yourself, not as well.
        fallback: Degrade failed reads (timeouts, outages, refused credentials, ids the
            store cannot take) to a pass-through instead of raising; ``False`` raises
            them (see :mod:`llm_featurestore.serving.degrade`).

    Raises:
        FeatureConfigError: the tokenizer encoding cannot be loaded (see
            :func:`llm_featurestore.tokens.load_encoding`).
    """

    def __init__(
        self,
        client: FeatureStoreClient,
        config: EnricherConfig | None = None,
        catalog: SupportsCatalog | None = None,
        monitor: FeatureMonitor | None = None,
        *,
        record_vectors: bool = False,
        fallback: bool = True,
    ) -> None:
        self.client = client
        self.config = config or EnricherConfig()
        self.catalog = catalog
        cfg = self.config
        self._counter: TokenCounter = get_token_counter(cfg.encoding)
        self._clean = Neutralizer([cfg.header, cfg.footer], max_chars=cfg.max_value_chars)
        self._clean_label = Neutralizer([cfg.header, cfg.footer], max_chars=cfg.max_label_chars)
        self._enabled = frozenset(cfg.enabled_task_types)
        self._sensitive = frozenset(cfg.sensitive_features)
        self._defaults_shown = frozenset(cfg.defaults_in_prompt)
        self._fixed_tokens = self._counter.count(cfg.header + "\n") + self._counter.count(
            cfg.footer + _SEPARATOR
        )
        self._labels: dict[tuple[str, str], str] = {}
        self.record_vectors = record_vectors
        self.reader = FeatureReader(client, monitor=monitor, fallback=fallback)

    @property
    def monitor(self) -> FeatureMonitor | None:
        """The monitor that gates the reads and receives the results (the reader's)."""
        return self.reader.monitor

    @monitor.setter
    def monitor(self, monitor: FeatureMonitor | None) -> None:
        self.reader.monitor = monitor

    # --- configuration queries ----------------------------------------------------

    def required_features(self, task_type: str) -> dict[str, list[str]]:
        """entity type -> feature names to look up for ``task_type``, priority order.

        Empty when the task type is not enabled or has no mapping (and no
        ``default_features``).
        """
        if task_type not in self._enabled:
            return {}
        mapping = self.config.task_features.get(task_type, self.config.default_features)
        return {et: list(dict.fromkeys(names)) for et, names in mapping.items() if names}

    def get_relevant_features(self, task_type: str, entity_type: str) -> list[str]:
        """The feature names of ``entity_type`` that ``task_type`` uses, priority order."""
        return self.required_features(task_type).get(entity_type, [])

    def is_sensitive(self, entity_type: str, name: str) -> bool:
        """True when the catalog, ``sensitive_features`` or the PII name check says so."""
        if self.catalog is not None:
            definition = self.catalog.get(entity_type, name)
            if definition is not None and definition.is_sensitive:
                return True
        if name in self._sensitive or f"{entity_type}.{name}" in self._sensitive:
            return True
        return self.config.detect_pii_names and _is_pii_name(name)

    def sensitive_strategy(
        self, task_type: str, entity_type: str, name: str
    ) -> SensitiveStrategy | None:
        """How ``task_type`` may show this feature: None when it is not sensitive.

        Looks in ``sensitive_policy[task_type]`` then ``sensitive_policy["*"]``, each
        for ``"entity_type.name"``, ``"name"`` then ``"*"``; ``"drop"`` when none match.
        """
        if not self.is_sensitive(entity_type, name):
            return None
        policy = self.config.sensitive_policy
        for task_key in (task_type, "*"):
            rules = policy.get(task_key)
            if not rules:
                continue
            for key in (f"{entity_type}.{name}", name, "*"):
                strategy = rules.get(key)
                if strategy is not None:
                    return strategy
        return "drop"

    def label_for(self, entity_type: str, name: str) -> str:
        """The cleaned label of a feature: catalog label or humanised name, with entity prefix."""
        raw = None
        if self.catalog is not None:
            definition = self.catalog.get(entity_type, name)
            if definition is not None:
                raw = definition.display_label
        if raw is None:
            raw = _humanize(name)
        key = (entity_type, raw)
        label = self._labels.get(key)
        if label is None:
            prefix = self.config.entity_labels.get(entity_type)
            if prefix is None:
                prefix = humanize(entity_type)
            text = raw
            if prefix:
                lowered = raw if raw[:2].isupper() else raw[:1].lower() + raw[1:]
                text = f"{prefix} {lowered}"
            label = self._clean_label(text) or self._clean_label(humanize(name)) or "Feature"
            if len(self._labels) < 10_000:
                self._labels[key] = label
        return label

    # --- lookups ------------------------------------------------------------------

    def plan(
        self,
        user_id: str | None = None,
        organization_id: str | None = None,
        task_type: str = "general",
        context: Mapping[str, str] | None = None,
    ) -> LookupPlan:
        """Decide which entities to fetch, or why not to fetch at all.

        The monitor is consulted by the read itself (:meth:`fetch`), so a recovery probe
        is only spent on a request that reaches the store.

        Raises:
            FeatureConfigError: an entity id is not a string, or ``context`` names a
                different id for ``user``/``organization`` than the arguments.
        """
        if task_type not in self._enabled:
            return LookupPlan(task_type, skipped_reason="task_disabled")
        required = self.required_features(task_type)
        if not required:
            return LookupPlan(task_type, skipped_reason="no_features_mapped")
        ids = _entity_ids(user_id, organization_id, context)
        entities = {et: ids[et] for et in required if et in ids}
        if not entities:
            return LookupPlan(task_type, skipped_reason="no_entities")
        return LookupPlan(task_type, entities, {et: required[et] for et in entities})

    def request(self, plan: LookupPlan) -> ReadRequest:
        """The read-flow request of ``plan`` (gated by the monitor for ``plan.task_type``)."""
        return ReadRequest(plan.entities, plan.features, plan.task_type, fix=_FIX_MAPPING)

    def fetch(self, plan: LookupPlan) -> FeatureVectors:
        """Run ``plan``'s lookups through the read flow (:mod:`llm_featurestore.reading`):
        entity types concurrently, one batch call each, failures degraded per entity,
        nothing read when the monitor says no (``skipped_reason="monitor_disabled"``).

        Raises:
            FeatureConfigError: the store rejected a mapped feature name.
        """
        return self.fetch_many([plan])[0]

    async def afetch(self, plan: LookupPlan) -> FeatureVectors:
        """Async twin of :meth:`fetch`."""
        return (await self.afetch_many([plan]))[0]

    def fetch_many(self, plans: Sequence[LookupPlan]) -> list[FeatureVectors]:
        """:meth:`fetch` for N plans with one backend call per entity type."""
        return self.reader.read_many([self.request(p) for p in plans])

    async def afetch_many(self, plans: Sequence[LookupPlan]) -> list[FeatureVectors]:
        """Async twin of :meth:`fetch_many`."""
        return await self.reader.aread_many([self.request(p) for p in plans])

    # --- enrichment ---------------------------------------------------------------

    def enrich(
        self,
        prompt: str,
        user_id: str | None = None,
        organization_id: str | None = None,
        task_type: str = "general",
        context: Mapping[str, str] | None = None,
    ) -> EnrichmentResult:
        """Look up the task's features and prepend them to ``prompt``.

        Args:
            prompt: The user's prompt; it is never modified.
            user_id: Id of the ``user`` entity.
            organization_id: Id of the ``organization`` entity.
            task_type: Selects the features (``task_features``) and policies.
            context: More entities, ``{entity_type: entity_id}``.

        Returns:
            The result; a pass-through (``enriched_prompt == prompt``) when the task is
            disabled, nothing is mapped, no entity is given, the monitor says no, or no
            feature is usable. Store failures never raise: they give a pass-through
            with ``store_available=False``.

        Raises:
            FeatureConfigError: the store rejected a mapped feature name or entity type.
        """
        start = time.perf_counter()
        plan = self.plan(user_id, organization_id, task_type, context)
        if plan.skipped_reason is not None:
            return self._passthrough(prompt, task_type, plan.skipped_reason, start)
        vectors = self.fetch(plan)
        lookup_ms = (time.perf_counter() - start) * 1000
        return self.enrich_from_vectors(prompt, vectors, task_type, lookup_ms)

    def enrich_many(
        self, prompts: Sequence[str], plans: Sequence[LookupPlan]
    ) -> list[EnrichmentResult]:
        """Enrich N prompts, one per plan, with one backend call per entity type."""
        return self._from_fetched(prompts, plans, self.fetch_many(self._to_read(plans)))

    async def aenrich_many(
        self, prompts: Sequence[str], plans: Sequence[LookupPlan]
    ) -> list[EnrichmentResult]:
        """Async twin of :meth:`enrich_many`."""
        return self._from_fetched(prompts, plans, await self.afetch_many(self._to_read(plans)))

    @staticmethod
    def _to_read(plans: Sequence[LookupPlan]) -> list[LookupPlan]:
        return [p for p in plans if p.skipped_reason is None]

    def _from_fetched(
        self,
        prompts: Sequence[str],
        plans: Sequence[LookupPlan],
        fetched: Sequence[FeatureVectors],
    ) -> list[EnrichmentResult]:
        read = iter(fetched)
        out: list[EnrichmentResult] = []
        for prompt, plan in zip(prompts, plans, strict=True):
            if plan.skipped_reason is not None:
                reason = plan.skipped_reason
                out.append(self._passthrough(prompt, plan.task_type, reason, time.perf_counter()))
                continue
            vectors = next(read)
            out.append(
                self.enrich_from_vectors(prompt, vectors, plan.task_type, vectors.latency_ms)
            )
        return out

    async def aenrich(
        self,
        prompt: str,
        user_id: str | None = None,
        organization_id: str | None = None,
        task_type: str = "general",
        context: Mapping[str, str] | None = None,
    ) -> EnrichmentResult:
        """Async twin of :meth:`enrich`: the lookups run concurrently on the event loop."""
        start = time.perf_counter()
        plan = self.plan(user_id, organization_id, task_type, context)
        if plan.skipped_reason is not None:
            return self._passthrough(prompt, task_type, plan.skipped_reason, start)
        vectors = await self.afetch(plan)
        lookup_ms = (time.perf_counter() - start) * 1000
        return self.enrich_from_vectors(prompt, vectors, task_type, lookup_ms)

    def _passthrough(
        self, prompt: str, task_type: str, reason: str, start: float
    ) -> EnrichmentResult:
        return EnrichmentResult(
            original_prompt=prompt,
            enriched_prompt=prompt,
            task_type=task_type,
            features_used=[],
            feature_tokens_added=0,
            enrichment_latency_ms=(time.perf_counter() - start) * 1000,
            features_available=False,
            variables={"feature_context": "", "features": {}, "features_by_name": {}},
            skipped_reason=reason,
        )

    def enrich_from_vectors(
        self,
        prompt: str,
        vectors: Mapping[str, FeatureVector],
        task_type: str = "general",
        lookup_latency_ms: float = 0.0,
    ) -> EnrichmentResult:
        """Build the result from vectors that were already fetched (no I/O).

        Args:
            prompt: The user's prompt.
            vectors: entity type -> that entity's vector, as returned by the store (it may
                hold more features than the task uses; only mapped ones are shown).
            task_type: Selects the features and policies.
            lookup_latency_ms: Time the caller spent fetching, added to the latency.

        Returns:
            As :meth:`enrich`. Vectors from the read flow (:meth:`fetch`, ``FeatureLookup``)
            were gated by the monitor when read: a refused read passes through with its
            ``skipped_reason``. Vectors fetched elsewhere (a plain mapping) are gated here
            with ``monitor.should_read(task_type)``. The result is recorded with the
            monitor when enrichment ran.
        """
        start = time.perf_counter()
        skipped = getattr(vectors, "skipped_reason", None)
        if (
            skipped is None
            and vectors
            and not isinstance(vectors, FeatureVectors)
            and self.monitor is not None
            and not self.monitor.should_read(task_type)
        ):
            skipped = MONITOR_DISABLED  # vectors read elsewhere: the monitor decides here
        if skipped is not None:
            return self._passthrough(prompt, task_type, skipped, start)
        if task_type not in self._enabled:
            return self._passthrough(prompt, task_type, "task_disabled", start)
        required = self.required_features(task_type)
        if not required:
            return self._passthrough(prompt, task_type, "no_features_mapped", start)
        present = [vectors[et] for et in required if et in vectors]
        if not present:
            return self._passthrough(prompt, task_type, "no_entities", start)

        now = utcnow()
        provenance: list[dict[str, Any]] = []
        candidates: list[_Candidate] = []
        for entity_type, names in required.items():
            vector = vectors.get(entity_type)
            if vector is None:
                continue
            for name in names:
                candidate = self._candidate(task_type, vector, name, now)
                if isinstance(candidate, _Candidate):
                    candidates.append(candidate)
                    provenance.append(candidate.provenance)
                else:
                    provenance.append(candidate)

        chosen, block, tokens = self._fit(candidates)
        result = self._result(
            prompt,
            task_type,
            chosen,
            block,
            tokens,
            provenance,
            store_available=not all(v.failed for v in present),
            latency_ms=lookup_latency_ms + (time.perf_counter() - start) * 1000,
        )
        if self.monitor is not None:
            try:
                self.monitor.record_enrichment(
                    result,
                    vectors=vectors if self.record_vectors else None,  # drift windows
                    store_recorded=getattr(vectors, "recorded", False),
                )
            except Exception:  # monitoring must never break the request
                logger.exception("FeatureMonitor.record_enrichment failed; result returned anyway")
        return result

    # --- pure helpers ---------------------------------------------------------------

    def _candidate(
        self, task_type: str, vector: FeatureVector, name: str, now: datetime
    ) -> _Candidate | dict[str, Any]:
        """A renderable candidate line, or the provenance of a dropped feature."""
        entity_type = vector.entity_type
        status = vector.statuses.get(name, FeatureStatus.NOT_FOUND)
        value = vector.features.get(name)
        stamp = vector.event_timestamps.get(name)
        age = None
        if stamp is not None:
            # Naive timestamps are UTC; a timestamp in the future (clock skew) is age 0.
            aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)
            age = max((now - aware).total_seconds(), 0.0)
        label = self.label_for(entity_type, name)
        threshold = self.config.freshness_threshold_seconds
        prov: dict[str, Any] = {
            "feature": name,
            "entity_type": entity_type,
            "entity_id": vector.entity_id,
            "source": vector.source,
            "status": status,
            "age_seconds": age,
            "used": False,
            "drop_reason": None,
            "label": label,
        }
        if status in (FeatureStatus.TIMED_OUT, FeatureStatus.UNAVAILABLE):
            prov["drop_reason"] = DropReason.UNAVAILABLE
        elif status is FeatureStatus.STALE or (
            threshold is not None
            and status in USABLE_STATUSES
            and age is not None
            and age > threshold
        ):
            prov["drop_reason"] = DropReason.STALE
        elif status not in USABLE_STATUSES or is_empty(value):
            prov["drop_reason"] = DropReason.MISSING
        elif status is FeatureStatus.DEFAULTED and task_type not in self._defaults_shown:
            prov["drop_reason"] = DropReason.DEFAULTED
        if prov["drop_reason"] is not None:
            return prov
        strategy = self.sensitive_strategy(task_type, entity_type, name)
        if strategy == "drop":
            prov["drop_reason"] = DropReason.SENSITIVE
            return prov
        if strategy == "mask":
            value = mask_value(value)
        elif strategy == "hash":
            salt = self.config.hash_salt
            assert salt is not None  # guaranteed by EnricherConfig validation
            value = hash_value(value, salt.get_secret_value())
        prov["protection"] = strategy
        formatted = format_value(
            value,
            clean=self._clean,
            max_chars=self.config.max_value_chars,
            max_items=self.config.max_list_items,
        )
        if not formatted.text:
            prov["drop_reason"] = DropReason.MISSING
            return prov
        if status is FeatureStatus.DEFAULTED:
            # A default is not a fact about the user: say so in the line itself.
            formatted = FormattedValue(f"unknown (default {formatted.text})")
        line = f"- {label}: {formatted.text}"
        return _Candidate(entity_type, name, label, formatted, line, prov)

    def _shorten(self, cand: _Candidate, room: int) -> _Candidate | None:
        """``cand`` with a shorter value whose line costs at most ``room`` tokens, or None."""
        prefix = f"- {cand.label}: "
        count = self._counter.count_cached
        fv = cand.value
        if fv.items and fv.shown > 1:
            for keep in range(fv.shown - 1, 0, -1):
                text = join_items(fv.items, keep)
                line = prefix + text
                tokens = count(line + "\n")
                if tokens <= room:
                    return _replace(cand, FormattedValue(text, fv.items, keep), line)
        value_room = room - count(prefix) - count(ELLIPSIS + "\n")
        while value_room >= _MIN_SHORTENED_VALUE_TOKENS:
            cut = self._counter.truncate(fv.text, value_room).rstrip()
            if not cut:
                return None
            text = self._clean(cut + ELLIPSIS)
            line = prefix + text
            tokens = count(line + "\n")
            if tokens <= room:
                return _replace(cand, FormattedValue(text), line)
            value_room -= 1
        return None

    def _render(self, chosen: Sequence[_Candidate]) -> str:
        cfg = self.config
        return "\n".join([cfg.header, *(c.line for c in chosen), cfg.footer])

    def _fit(self, candidates: list[_Candidate]) -> tuple[list[_Candidate], str, int]:
        """Keep the highest-priority prefix that fits, shortening the first that does not.

        Returns the kept candidates, the block ("" when none) and its exact token count
        including the blank-line separator (0 when none). Dropped candidates get
        ``drop_reason=OVER_BUDGET`` in their provenance.
        """
        budget = self.config.max_feature_tokens
        chosen, block, tokens = candidates, "", 0
        if candidates:
            # Usually everything fits: one exact count of the whole block decides.
            block = self._render(candidates)
            tokens = self._counter.count_cached(block + _SEPARATOR)
            if tokens > budget:
                chosen = self._select(candidates, budget)
                block, tokens = "", 0
                # Line counts add up to the block's count (lines meet at token
                # boundaries), but verify the final block exactly all the same.
                while chosen:
                    block = self._render(chosen)
                    tokens = self._counter.count_cached(block + _SEPARATOR)
                    if tokens <= budget:
                        break
                    chosen.pop()
                    block, tokens = "", 0
        kept = {id(c.provenance) for c in chosen}
        for cand in candidates:
            if id(cand.provenance) in kept:
                cand.provenance["used"] = True
            else:
                cand.provenance["drop_reason"] = DropReason.OVER_BUDGET
                cand.provenance.pop("shortened", None)
        return chosen, block, tokens

    def _select(self, candidates: list[_Candidate], budget: int) -> list[_Candidate]:
        """The longest priority prefix whose lines fit, the first misfit shortened if it can be."""
        count = self._counter.count_cached
        total = self._fixed_tokens
        chosen: list[_Candidate] = []
        for cand in candidates:
            tokens = count(cand.line + "\n")
            if total + tokens <= budget:
                chosen.append(cand)
                total += tokens
                continue
            short = self._shorten(cand, budget - total)
            if short is not None:
                cand.provenance["shortened"] = True
                chosen.append(short)
            break
        return chosen

    def _result(
        self,
        prompt: str,
        task_type: str,
        chosen: list[_Candidate],
        block: str,
        tokens: int,
        provenance: list[dict[str, Any]],
        *,
        store_available: bool,
        latency_ms: float,
    ) -> EnrichmentResult:
        features = {c.label: c.value.text for c in chosen}
        by_name = {f"{c.entity_type}.{c.name}": c.value.text for c in chosen}
        return EnrichmentResult(
            original_prompt=prompt,
            enriched_prompt=f"{block}{_SEPARATOR}{prompt}" if block else prompt,
            task_type=task_type,
            features_used=list(by_name),
            feature_tokens_added=tokens,
            enrichment_latency_ms=latency_ms,
            features_available=bool(chosen),
            provenance=provenance,  # dicts: pydantic validates them in one pass
            context_block=block,
            variables={"feature_context": block, "features": features, "features_by_name": by_name},
            store_available=store_available,
        )


def _replace(cand: _Candidate, value: FormattedValue, line: str) -> _Candidate:
    return _Candidate(cand.entity_type, cand.name, cand.label, value, line, cand.provenance)


def _entity_ids(
    user_id: str | None, organization_id: str | None, context: Mapping[str, str] | None
) -> dict[str, str]:
    ids: dict[str, str] = {}
    for entity_type, entity_id in (context or {}).items():
        if entity_id is None or entity_id == "":
            continue
        if not isinstance(entity_id, str):
            raise FeatureConfigError(
                f"context[{entity_type!r}] must be an entity id string, got {entity_id!r}"
            )
        ids[entity_type] = entity_id
    explicit: tuple[tuple[str, object], ...] = (
        ("user", user_id),
        ("organization", organization_id),
    )
    for entity_type, given in explicit:
        if given is None or given == "":
            continue
        if not isinstance(given, str):
            raise FeatureConfigError(
                f"{entity_type}_id must be a string, got {type(given).__name__} {given!r}"
            )
        entity_id = given
        if ids.get(entity_type, entity_id) != entity_id:
            raise FeatureConfigError(
                f"context gives {entity_type} id {ids[entity_type]!r} but "
                f"{'user_id' if entity_type == 'user' else 'organization_id'} is {entity_id!r}: "
                "pass one of them"
            )
        ids[entity_type] = entity_id
    return ids
