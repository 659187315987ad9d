"""Moved to :mod:`llm_featurestore.prompting.sanitize`; this module keeps old imports working."""

from llm_featurestore.prompting.sanitize import (
    BUILTIN_MARKER_PHRASES,
    ELLIPSIS,
    FILTERED,
    InstructionPolicy,
    Neutralizer,
    SensitiveStrategy,
    hash_value,
    is_pii_name,
    mask_value,
    name_tokens,
)

__all__ = [
    "BUILTIN_MARKER_PHRASES",
    "ELLIPSIS",
    "FILTERED",
    "InstructionPolicy",
    "Neutralizer",
    "SensitiveStrategy",
    "hash_value",
    "is_pii_name",
    "mask_value",
    "name_tokens",
]
