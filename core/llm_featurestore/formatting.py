"""Moved to :mod:`llm_featurestore.prompting.formatting`; this module keeps old imports working."""

from llm_featurestore.prompting.formatting import (
    FormattedValue,
    format_number,
    format_scalar,
    format_value,
    humanize,
    is_empty,
    join_items,
)

__all__ = [
    "FormattedValue",
    "format_number",
    "format_scalar",
    "format_value",
    "humanize",
    "is_empty",
    "join_items",
]
