"""Rows handed to :meth:`~llm_featurestore.clients.base.PushableFeatureStore.push`, as
every pushable backend takes them (pure: no I/O, no Feast import).

* :func:`push_records`: a list of row dicts or a pandas DataFrame as a list of plain
  dicts (a DataFrame's ``NaN``/``NaT`` cells become ``None``, numpy scalars Python ones);
* :func:`check_push_mode`: ``to`` is one of :data:`~llm_featurestore.clients.base.PUSH_MODES`;
* :func:`row_timestamp`: a row's timestamp column as an aware UTC datetime (now when
  the row leaves it out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from llm_featurestore.clients.base import PUSH_MODES, PushMode, ensure_aware
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError

__all__ = ["check_push_mode", "push_records", "row_timestamp"]


def check_push_mode(to: Any) -> PushMode:
    """``to`` itself when it is a push mode.

    Raises:
        FeatureConfigError: any other value; the message lists the push modes.
    """
    if not isinstance(to, str) or to not in PUSH_MODES:
        raise FeatureConfigError(f"Unknown push mode {to!r}: use one of {', '.join(PUSH_MODES)}")
    return to  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    """A DataFrame cell as the Python value a row dict would hold."""
    if value is None:
        return None
    if type(value).__module__ == "numpy":
        # An array cell (an Array feature) becomes a list, a numpy scalar a Python one.
        value = value.tolist() if getattr(value, "ndim", 0) else value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    return value


def push_records(rows: Any, push_source: str) -> list[dict[str, Any]]:
    """``rows`` (a list of row dicts, or a pandas DataFrame) as a list of plain dicts.

    Raises:
        FeatureValidationError: ``rows`` is neither, a row is not a mapping, a column
            name is not a string, or there are no rows.
    """
    where = f"push to '{push_source}'"
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        records = [
            {str(k): _plain(v) for k, v in row.items()} for row in rows.to_dict(orient="records")
        ]
    elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        records = []
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise FeatureValidationError(
                    f"Row {i} of the {where} is a {type(row).__name__}, not a dict of "
                    "column to value"
                )
            for key in row:
                if not isinstance(key, str):
                    raise FeatureValidationError(
                        f"Row {i} of the {where} has a column name that is not a string: {key!r}"
                    )
            records.append(dict(row))
    else:
        raise FeatureValidationError(
            f"The {where} takes a list of row dicts or a pandas DataFrame, got "
            f"{type(rows).__name__}"
            + ("; wrap one row in a list" if isinstance(rows, Mapping) else "")
        )
    if not records:
        raise FeatureValidationError(f"The {where} has no rows: nothing to push")
    return records


def row_timestamp(
    row: Mapping[str, Any], column: str, index: int, push_source: str, now: datetime
) -> datetime:
    """Row ``index``'s ``column`` as an aware UTC datetime; ``now`` when absent or None.

    Raises:
        FeatureValidationError: the value is not a datetime.
    """
    value = row.get(column)
    if value is None:
        return now
    if not isinstance(value, datetime):
        raise FeatureValidationError(
            f"Row {index} of the push to '{push_source}': timestamp column '{column}' must be "
            f"a datetime (or left out for now), got {type(value).__name__} {value!r}"
        )
    return ensure_aware(value)
