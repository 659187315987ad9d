"""Writes and pushes over Feast's feature server: bodies, the merge, and answers.

* ``write_features`` posts ``/write-to-online-store`` once per feature view it touches:
  ``{"feature_view_name": view, "df": {join_key: [id], feature: [value], ...}}``;
* ``push`` posts ``/push``: ``{"push_source_name": name, "df": {column: [...]}, "to": mode}``.

The server exposes no registry, so what a local client reads from one comes from the
client's settings:

* names are ``view:feature`` refs, or bare names resolved through ``features``;
* a write that sets only some features of a view is **merged** with the entity's
  current row when ``features`` lists the view's features: the others are read with
  the client's own read (a value past the view's ttl reads STALE and keeps its value)
  and written back unchanged, nulls for an entity with no row. The merge is
  read-then-write, not atomic against another writer of the same view and entity,
  and the merged row gets the new event timestamp. Without ``features`` the write is
  sent as it is, and the server's refusal of the missing columns is a
  :class:`FeatureValidationError` saying what to pass;
* each view's (or push source's) timestamp columns are ``timestamp_columns[name]``,
  by default ``event_timestamp`` (the event time) and ``created`` (now): ``feast
  init``'s names. An online write ignores a column its view does not declare;
* ids are sent as strings (the server converts them to the join key's type), and a
  push's entities are the columns named by ``join_keys`` or ``<entity type>_id``.

Each operation is one generator (:func:`write_flow`, :func:`push_flow`) that makes
every decision and yields its I/O as steps (:class:`Read`, :class:`Post`); the
client's sync and async drivers only perform them. Answers other than 200/202 map
through :func:`error_for_write`.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx

from llm_featurestore.clients.base import EntityKey, check_write, validate_feature_values
from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig
from llm_featurestore.clients.feast_http.protocol import AUTH_HINT, SERVICE_NAME, name_index
from llm_featurestore.clients.http.errors import response_error
from llm_featurestore.clients.push_rows import check_push_mode, push_records, row_timestamp
from llm_featurestore.clients.values import check_entity_id
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureValidationError,
    InvalidEntityIdError,
    unknown_entity_type,
)
from llm_featurestore.models import FeatureVector

__all__ = [
    "DEFAULT_TIMESTAMP_COLUMNS",
    "PUSH_PATH",
    "WRITE_PATH",
    "Post",
    "Read",
    "Step",
    "error_for_write",
    "push_flow",
    "write_flow",
]

WRITE_PATH = "/write-to-online-store"
PUSH_PATH = "/push"
DEFAULT_TIMESTAMP_COLUMNS = ("event_timestamp", "created")
_ACCEPTED = (200, 202)
"""202: the server queued an offline push (its offline write batcher is on)."""
_NOT_FOUND_MARKERS = ("Unable to find push source",)
_SCHEMA_MARKERS = (
    "does not exist in schema",
    "not in index",
    "Type `",
    "is of type",
    "columns do not match",
    "ould not convert",
    "Unsupported cast",
    "Vector length",
    "invalid literal",
)
"""Server messages (a 500) of data that does not fit the view or source."""
_ID_MARKER = "invalid literal"

R = TypeVar("R")


@dataclass(frozen=True)
class Read:
    """Read ``refs`` of one entity with the client's own read; send back its vector."""

    entity_id: str
    entity_type: str
    refs: tuple[str, ...]


@dataclass(frozen=True)
class Post:
    """POST ``body`` to ``path``; send back the ``httpx.Response``."""

    path: str
    body: str
    what: str
    """What the request is, for messages: ``"a write to feature view 'user_profile'"``."""


Step = Read | Post
Flow = Generator[Step, Any, R]


def error_for_write(
    status_code: int,
    text: str,
    url: str,
    *,
    what: str,
    fix: str,
    entity_type: str = "",
    entity_id: str = "",
    auth_hint: str = AUTH_HINT,
) -> FeatureStoreError:
    """Map an error answer to a write or push to our exception.

    401/403 are :class:`FeatureAuthError`; an unknown view or push source (404, or
    Feast's "Unable to find push source") is :class:`FeatureConfigError`; an id the
    join key cannot take (the server's message quotes ``entity_id``) is
    :class:`InvalidEntityIdError`; any other 4xx,
    and a 500 whose message is a schema, type or column mismatch, is
    :class:`FeatureValidationError` with the server's message and ``fix``; 504 is
    :class:`FeatureTimeoutError`; other 5xx are :class:`FeatureStoreUnavailableError`.
    """

    def feast_errors(code: int, raw: str, message: str) -> FeatureStoreError | None:
        if code == 404 or any(m in raw for m in _NOT_FOUND_MARKERS):
            return FeatureConfigError(
                f"The Feast feature server at {url} does not know the target of {what}: {message}"
            )
        if entity_id and _ID_MARKER in raw and repr(entity_id) in raw:
            return InvalidEntityIdError(
                f"The Feast feature server at {url} could not use the entity id of "
                f"'{entity_type}' as its join key in {what}: {message}",
                entity_type=entity_type,
                entity_ids=None,
            )
        if 400 <= code < 500 or any(m in raw for m in _SCHEMA_MARKERS):
            return FeatureValidationError(
                f"The Feast feature server at {url} refused {what}: {message.rstrip('.')}. {fix}"
            )
        return None

    return response_error(
        SERVICE_NAME,
        url,
        status_code,
        text,
        what=what,
        auth_hint=auth_hint,
        protocol=feast_errors,
    )


def _check_answer(
    response: httpx.Response,
    config: FeastHttpClientConfig,
    post: Post,
    fix: str,
    entity: tuple[str, str] = ("", ""),
) -> None:
    if response.status_code not in _ACCEPTED:
        raise error_for_write(
            response.status_code,
            response.text,
            config.url,
            what=post.what,
            fix=fix,
            entity_type=entity[0],
            entity_id=entity[1],
            auth_hint=config.auth_hint(),
        )


def _timestamp_columns(config: FeastHttpClientConfig, name: str) -> tuple[str, ...]:
    configured = (config.timestamp_columns or {}).get(name)
    return tuple(configured) if configured else DEFAULT_TIMESTAMP_COLUMNS


def _resolve(config: FeastHttpClientConfig, entity_type: str, name: str) -> tuple[str, str]:
    """``(view, feature)`` of a name written for ``entity_type``."""
    known = config.features
    if known is not None:
        if entity_type not in known:
            raise unknown_entity_type(entity_type, known)
        ref = name_index(entity_type, known[entity_type]).resolve(name)
    elif ":" in name:
        ref = name
    else:
        raise FeatureConfigError(
            f"Cannot write the bare feature name '{name}': the Feast feature server has no "
            "registry listing. Use a 'view:feature' ref, or give FeastHttpClient(features="
            f"{{'{entity_type}': ['view:feature', ...]}})"
        )
    view, _, feature = ref.partition(":")
    if not view or not feature or ":" in feature:
        raise FeatureConfigError(f"Malformed Feast feature reference {ref!r}: use 'view:feature'")
    return view, feature


def _view_features(config: FeastHttpClientConfig, entity_type: str, view: str) -> list[str]:
    """The features of ``view`` that the ``features`` setting lists (none without it)."""
    refs = (config.features or {}).get(entity_type) or []
    return [r.partition(":")[2] for r in refs if r.partition(":")[0] == view]


def _write_fix(config: FeastHttpClientConfig, entity_type: str, view: str) -> str:
    merge = (
        ""
        if _view_features(config, entity_type, view)
        else f", or list them in FeastHttpClient(features={{'{entity_type}': [...]}}) so "
        "a partial write merges the current row"
    )
    stamps = ", ".join(_timestamp_columns(config, view))
    return (
        f"Pass every feature of view '{view}' with values of the types it declares{merge}. "
        f"Timestamp columns sent: {stamps} (if its source declares others, set "
        f"FeastHttpClient(timestamp_columns={{'{view}': [timestamp_field, created_column]}}))"
    )


def write_flow(
    config: FeastHttpClientConfig,
    entity_id: str,
    entity_type: str,
    features: Mapping[str, Any],
    event_timestamp: datetime | None,
    now: datetime,
) -> Flow[None]:
    """Every decision of one write (see the module docstring), yielding its I/O.

    Raises:
        FeatureConfigError: a bad id, or a name that cannot be resolved.
        FeatureValidationError: a value may not be stored, or the server refused it.
        FeatureStoreUnavailableError: the server could not be reached or failed.
    """
    request = check_write(entity_id, entity_type, features, event_timestamp)
    by_view: dict[str, dict[str, Any]] = {}
    for name in features:
        view, feature = _resolve(config, entity_type, name)
        by_view.setdefault(view, {})[feature] = request.values[name]
    missing = [
        f"{view}:{feature}"
        for view, values in by_view.items()
        for feature in _view_features(config, entity_type, view)
        if feature not in values
    ]
    current: Mapping[str, Any] = {}
    if missing:
        vector: FeatureVector = yield Read(entity_id, entity_type, tuple(missing))
        current = vector.features
    join_key = (config.join_keys or {}).get(entity_type) or f"{entity_type}_id"
    posts: list[tuple[Post, str]] = []
    for view, values in by_view.items():
        merged = {
            **{f: current.get(f"{view}:{f}") for f in _view_features(config, entity_type, view)},
            **values,
        }
        if all(v is None for v in merged.values()):
            raise FeatureValidationError(
                f"Every value written to feature view '{view}' is None; "
                "Feast would skip the row. Write at least one value."
            )
        event_col, *created = _timestamp_columns(config, view)
        df: dict[str, list[Any]] = {join_key: [entity_id], **{f: [v] for f, v in merged.items()}}
        df[event_col] = [request.event_timestamp.isoformat()]
        df.update({c: [now.isoformat()] for c in created if c != event_col})
        body = json.dumps({"feature_view_name": view, "df": df})
        post = Post(WRITE_PATH, body, f"a write to feature view '{view}'")
        posts.append((post, _write_fix(config, entity_type, view)))
    for post, fix in posts:
        response = yield post
        _check_answer(response, config, post, fix, (entity_type, entity_id))


def _push_entities(
    config: FeastHttpClientConfig, columns: Sequence[str], push_source: str
) -> list[tuple[str, str]]:
    """``(entity type, join key column)`` pairs found among a push's columns."""
    configured = config.join_keys or {}
    pairs = [(et, jk) for et, jk in configured.items() if jk in columns]
    claimed = set(configured.values())
    for column in columns:
        entity_type = column[: -len("_id")]
        if column.endswith("_id") and entity_type and column not in claimed:
            pairs.append((entity_type, column))
    if not pairs:
        raise FeatureValidationError(
            f"The push to '{push_source}' has no join key column (columns: "
            f"{', '.join(columns)}): name it '<entity type>_id' or give "
            "FeastHttpClient(join_keys={entity_type: column})"
        )
    return pairs


def _push_keys(
    records: Sequence[Mapping[str, Any]], pairs: Sequence[tuple[str, str]], push_source: str
) -> list[EntityKey]:
    keys: dict[EntityKey, None] = {}
    for i, row in enumerate(records):
        for entity_type, column in pairs:
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise FeatureValidationError(
                    f"Row {i} of the push to '{push_source}': join key '{column}' of entity "
                    f"'{entity_type}' must be an id (a string or a number), got "
                    f"{type(value).__name__} {value!r}"
                )
            text = value if isinstance(value, str) else str(value)
            check_entity_id(text, f"Row {i} of the push to '{push_source}': ")
            keys[EntityKey(entity_type, text)] = None
    return list(keys)


def _push_columns(
    records: Sequence[Mapping[str, Any]], stamps: Sequence[str], push_source: str, now: datetime
) -> dict[str, list[Any]]:
    """The rows as JSON-safe columns, with every timestamp column filled."""
    names = [n for n in records[0] if n not in stamps]
    columns: dict[str, list[Any]] = {n: [] for n in [*names, *stamps]}
    for i, row in enumerate(records):
        have = {n for n in row if n not in stamps}
        if have != set(names):
            raise FeatureValidationError(
                f"Row {i} of the push to '{push_source}' has columns {', '.join(sorted(have))} "
                f"but row 0 has {', '.join(sorted(names))}: every row needs the same columns "
                f"(the timestamp columns {', '.join(stamps)} may be left out)"
            )
        values = {k: v for k, v in row.items() if k not in stamps}
        try:
            clean = validate_feature_values(values)
        except FeatureValidationError as exc:
            raise FeatureValidationError(f"Row {i} of the push to '{push_source}': {exc}") from None
        for name, value in clean.items():
            columns[name].append(value)
        for column in stamps:
            columns[column].append(row_timestamp(row, column, i, push_source, now).isoformat())
    return columns


def push_flow(
    config: FeastHttpClientConfig, push_source: str, rows: Any, to: Any, now: datetime
) -> Flow[list[EntityKey]]:
    """Every decision of one push (see the module docstring), yielding its request.

    Raises:
        FeatureConfigError: an unknown push mode, or a push source the server does not know.
        FeatureValidationError: a row or value may not be pushed, or the server refused it.
        FeatureStoreUnavailableError: the server could not be reached or failed.
    """
    mode = check_push_mode(to)
    records = push_records(rows, push_source)
    stamps = _timestamp_columns(config, push_source)
    columns = _push_columns(records, stamps, push_source, now)
    keys = _push_keys(records, _push_entities(config, list(records[0]), push_source), push_source)
    body = json.dumps({"push_source_name": push_source, "df": columns, "to": mode})
    post = Post(PUSH_PATH, body, f"a push to '{push_source}' ({mode})")
    fix = (
        f"Rows need the join key and every feature of the views '{push_source}' feeds (and, "
        f"offline, exactly its batch source's columns). Timestamp columns sent: "
        f"{', '.join(stamps)} (if its source declares others, set FeastHttpClient("
        f"timestamp_columns={{'{push_source}': [timestamp_field, created_column]}}))"
    )
    response = yield post
    _check_answer(response, config, post, fix)
    return keys
