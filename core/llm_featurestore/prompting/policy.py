"""Which features a task shows, how each is labelled and protected, and why one is dropped.

Pure decisions, no I/O and no rendering: :class:`PromptPolicy` answers, for one
:class:`~llm_featurestore.prompting.config.EnricherConfig` and an optional catalog,

* which features a task needs (:meth:`~PromptPolicy.required_features`);
* whether a feature is sensitive and how a task may show it
  (:meth:`~PromptPolicy.is_sensitive`, :meth:`~PromptPolicy.sensitive_strategy`,
  :meth:`~PromptPolicy.protect`), and how it shows personal data found inside a value
  (:meth:`~PromptPolicy.content_strategy`) or a value that reads as an instruction
  (:meth:`~PromptPolicy.instruction_policy`);
* the label a feature is shown under (:meth:`~PromptPolicy.label_for`: the catalog's
  label or :func:`~llm_featurestore.prompting.formatting.humanize`, the one label rule);
* why a value may not be shown at all (:meth:`~PromptPolicy.drop_reason`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Protocol

from llm_featurestore.models import USABLE_STATUSES, FeatureStatus
from llm_featurestore.prompting.config import EnricherConfig
from llm_featurestore.prompting.formatting import humanize, is_empty
from llm_featurestore.prompting.injection import find_instructions, is_role_label
from llm_featurestore.prompting.results import DropReason
from llm_featurestore.prompting.sanitize import (
    InstructionPolicy,
    Neutralizer,
    SensitiveStrategy,
    hash_value,
    is_pii_name,
    mask_value,
)

__all__ = ["PromptPolicy", "SupportsCatalog", "age_seconds"]

_LABEL_CACHE_SIZE = 10_000
_is_pii_name = lru_cache(maxsize=4096)(is_pii_name)
_humanize = lru_cache(maxsize=4096)(humanize)
_UNAVAILABLE = frozenset({FeatureStatus.TIMED_OUT, FeatureStatus.UNAVAILABLE})


class _Definition(Protocol):
    @property
    def display_label(self) -> str: ...
    @property
    def is_sensitive(self) -> bool: ...


class SupportsCatalog(Protocol):
    """What the enricher needs from a :class:`~llm_featurestore.catalog.FeatureCatalog`."""

    def get(self, entity_type: str, name: str) -> _Definition | None: ...


def age_seconds(stamp: datetime | None, now: datetime) -> float | None:
    """Age of a value at ``now``: naive stamps are UTC, a future stamp (clock skew) is 0."""
    if stamp is None:
        return None
    aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=timezone.utc)
    return max((now - aware).total_seconds(), 0.0)


class PromptPolicy:
    """The drop, sensitivity and label rules of one enricher configuration.

    Args:
        config: The task mapping and policies.
        catalog: Labels and sensitivity per feature; ``None`` for none.
    """

    def __init__(self, config: EnricherConfig, catalog: SupportsCatalog | None = None) -> None:
        self.config = config
        self.catalog = catalog
        self.enabled = frozenset(config.enabled_task_types)
        self._sensitive = frozenset(config.sensitive_features)
        self._defaults_shown = frozenset(config.defaults_in_prompt)
        self._threshold = config.freshness_threshold_seconds
        self._clean_label = Neutralizer(
            [config.header, config.footer, *([config.framing] if config.framing else [])],
            max_chars=config.max_label_chars,
        )
        self._labels: dict[tuple[str, str], str] = {}

    def required_features(self, task_type: str) -> dict[str, list[str]]:
        """entity type -> feature names to look up for ``task_type``, priority order.

        Empty when the task type is not enabled or has no mapping (and no
        ``default_features``).
        """
        if task_type not in self.enabled:
            return {}
        mapping = self.config.task_features.get(task_type, self.config.default_features)
        return {et: list(dict.fromkeys(names)) for et, names in mapping.items() if names}

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
        return self.content_strategy(task_type, entity_type, name)

    def content_strategy(self, task_type: str, entity_type: str, name: str) -> SensitiveStrategy:
        """How ``task_type`` shows personal data found inside this feature's value.

        The feature's ``sensitive_policy`` entry, looked up as for
        :meth:`sensitive_strategy`; ``"drop"`` when there is none.
        """
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

    def instruction_policy(self, task_type: str) -> InstructionPolicy:
        """What ``task_type`` does with a value that reads as an instruction to the model:
        ``instruction_policy[task_type]``, else ``instruction_policy["*"]``, else drop."""
        policies = self.config.instruction_policy
        return policies.get(task_type) or policies.get("*") or "drop"

    def protect(self, value: Any, strategy: SensitiveStrategy | None) -> Any:
        """``value`` as ``strategy`` shows it: masked, hashed, or unchanged."""
        if strategy == "mask":
            return mask_value(value)
        if strategy == "hash":
            salt = self.config.hash_salt
            assert salt is not None  # guaranteed by EnricherConfig validation
            return hash_value(value, salt.get_secret_value())
        return value

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
            label = self._safe_label(text, name)
            if len(self._labels) < _LABEL_CACHE_SIZE:
                self._labels[key] = label
        return label

    def _safe_label(self, text: str, name: str) -> str:
        """``text`` cleaned; the humanised name instead when it reads as an instruction;
        ``"<label> value"`` when it alone reads as a chat role (``- System: ...``)."""
        label = self._clean_label(text)
        if not label or find_instructions(label):
            label = self._clean_label(humanize(name))
            if not label or find_instructions(label):
                return "Feature"
        return f"{label} value" if is_role_label(label) else label

    def drop_reason(
        self, task_type: str, status: FeatureStatus, value: Any, age: float | None
    ) -> DropReason | None:
        """Why a value with this status, value and age may not be shown; None when it may.

        Failed reads are UNAVAILABLE; the store's STALE, or an age over
        ``freshness_threshold_seconds``, is STALE; anything not usable or empty is
        MISSING; a default outside ``defaults_in_prompt`` is DEFAULTED. Sensitivity is
        decided afterwards (:meth:`sensitive_strategy`).
        """
        threshold = self._threshold
        if status in _UNAVAILABLE:
            return DropReason.UNAVAILABLE
        if status is FeatureStatus.STALE or (
            threshold is not None
            and status in USABLE_STATUSES
            and age is not None
            and age > threshold
        ):
            return DropReason.STALE
        if status not in USABLE_STATUSES or is_empty(value):
            return DropReason.MISSING
        if status is FeatureStatus.DEFAULTED and task_type not in self._defaults_shown:
            return DropReason.DEFAULTED
        return None
