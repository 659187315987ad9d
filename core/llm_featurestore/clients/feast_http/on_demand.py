"""On-demand features over Feast's feature server: request fields, bare names, refusals.

``feast serve`` takes request data as extra columns of the body's ``entities`` and
exposes no registry, so what a read needs comes from the client's settings:

* ``request_fields`` (on-demand view or feature service -> field -> Feast type) says
  which fields a read needs; reads are then checked before sending like the SDK's
  (:mod:`llm_featurestore.clients.feast.request_data`). Views and services it does
  not list need none. Without it, request data is sent as given, and the server's
  "Required request data source features [...] not found" becomes a
  :class:`~llm_featurestore.errors.FeatureValidationError` that says how to pass them
  (:func:`missing_request_data_error`).
* Feast 0.67 drops a ``python``-mode on-demand view's outputs from answers with full
  feature names. The server does not say a view's mode, so when a refs read is answered
  without some of its columns, the client asks again once with bare names
  (:func:`bare_names_plan`) and keeps that plan for the next reads. A feature service
  holding such a view cannot be read this way (its columns are not known in advance):
  read the view's refs instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from llm_featurestore.clients.feast.request_data import RequestField, merge_fields
from llm_featurestore.clients.feast_http.protocol import HttpPlan
from llm_featurestore.errors import FeatureValidationError

__all__ = ["MISSING_MARKER", "bare_names_plan", "missing_request_data_error", "with_request_fields"]

MISSING_MARKER = "Required request data source features"
"""How the server words its refusal of a read that lacks request data."""
_MISSING_FIELDS = re.compile(r"Required request data source features \[([^\]]*)\]")


def with_request_fields(
    plan: HttpPlan, request_fields: Mapping[str, Mapping[str, str]] | None
) -> HttpPlan:
    """``plan`` with the request fields its views (or its service) need, per the
    ``request_fields`` setting; unchanged (fields not known) without one."""
    if request_fields is None:
        return plan
    fields: list[RequestField] = []
    if plan.service is not None:
        listed = request_fields.get(plan.service, {})
        fields = [RequestField(n, t, (plan.service,)) for n, t in listed.items()]
    else:
        for key, column in plan.key_columns:
            listed = request_fields.get(column.partition("__")[0], {})
            fields += [RequestField(n, t, (key,)) for n, t in listed.items()]
    return replace(plan, request_fields=merge_fields(fields))


def bare_names_plan(plan: HttpPlan, join_key: str) -> HttpPlan | None:
    """``plan`` asking for bare column names, or ``None`` when that cannot help: a
    feature service, a plan already bare, or bare names that would collide."""
    if plan.service is not None or not plan.full_names:
        return None
    views = tuple(column.partition("__")[0] for _, column in plan.key_columns)
    by_bare: dict[str, set[str]] = {join_key: {""}}
    for _, column in plan.key_columns:
        by_bare.setdefault(column.partition("__")[2], set()).add(column)
    if any(len(columns) > 1 for columns in by_bare.values()):
        return None
    key_columns = tuple((key, column.partition("__")[2]) for key, column in plan.key_columns)
    return replace(plan, key_columns=key_columns, full_names=False, views=views)


def missing_request_data_error(
    text: str, url: str, plan: HttpPlan
) -> FeatureValidationError | None:
    """The server's "request data not found" refusal as a usage error, else ``None``."""
    if MISSING_MARKER not in text:
        return None
    found = _MISSING_FIELDS.search(text)
    fields = sorted(re.findall(r"'([^']+)'", found.group(1))) if found else []
    listed = ", ".join(fields) or "(not named)"
    what = plan.service or ", ".join(dict.fromkeys(key for key, _ in plan.key_columns))
    example = "{" + ", ".join(f"'{f}': ..." for f in fields) + "}"
    return FeatureValidationError(
        f"Missing request data: the Feast feature server at {url} needs {listed} to compute "
        f"the on-demand features of {what}. Pass it per entity: get_features(..., "
        f"request_data={example}), or get_batch_features(..., request_data=[{example}, "
        "...]) with one mapping per id; FeastHttpClient(request_fields=...) checks it "
        "before sending"
    )
