"""Feast's Redis and SQLite online stores read directly, without the SDK's per-read work.

:class:`~llm_featurestore.clients.feast.FeastClient` reads through here when the repo and
the request allow it (:mod:`.reads` lists when) and through the Feast SDK otherwise.
The stored layout is Feast's own, read with Feast's own helpers: entity keys from
``serialize_entity_key`` (:mod:`.keys`), Redis field names from its ``_mmh3``, SQLite
table names from ``compute_table_id``. What comes back is decoded and classified by the
same code as the SDK's answer (:func:`~llm_featurestore.clients.feast.decode.decode_columns`),
so both paths give the same values, statuses, timestamps and freshness; a contract test
(``tests/integration/test_feast_direct.py``) proves it on every Feast scalar and list type.

One idea per module:

* :mod:`.keys`: join key values as Feast's serialized entity keys;
* :mod:`.layout`: what a plan reads of which view, and the fetched cells as columns;
* :mod:`.redis_reader`: one ``HMGET`` per entity, a pipeline per batch, sync and async;
* :mod:`.sqlite_reader`: Feast's query per view, through read-only connections;
* :mod:`.reads`: :class:`DirectReads`, which decides per repo and per plan, and logs why not.

Feast's layout helpers are private to Feast, so this package is the one place that
uses them: ``key_encoding_utils.serialize_entity_key`` and ``_serialize_val``,
``online_stores.helpers._mmh3`` and ``compute_table_id``,
``RedisOnlineStore._parse_connection_string`` and ``SqliteOnlineStore._get_db_path``.
Keys are checked against ``serialize_entity_key`` when an encoder is built, and the
parity test fails if a Feast upgrade changes any of them.

Readers made for a timeout (``DirectReads.reader(timeout_s)``) are bounded by their
driver (Redis socket timeouts, SQLite's busy timeout), so a serving layer can bound a
sync read without handing it to a worker thread
(:meth:`FeastClient.bounded_reader <llm_featurestore.clients.feast.FeastClient.bounded_reader>`).
"""

from __future__ import annotations

from llm_featurestore.clients.feast.direct.keys import KeyEncoder
from llm_featurestore.clients.feast.direct.reads import (
    SERIALIZATION_VERSIONS,
    DirectReads,
    store_support,
)

__all__ = ["SERIALIZATION_VERSIONS", "DirectReads", "KeyEncoder", "store_support"]
