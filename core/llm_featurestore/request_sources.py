"""Where a request's request data comes from: declared once, resolved by both adapters.

On-demand features take request-time inputs (a cart total, the question text). Which
input feeds which request field is configuration, per entity type::

    RequestDataSpec.of({"user": {"query_text": "query", "cart_total": "input.cart_total"}})

    # YAML, in a task of the enricher configuration or in a filter spec:
    request_data:
      user: {query_text: query, cart_total: input.cart_total}

A source is one of:

* ``"query"``: the request's question or query text (LangChain: the input under the
  chain's question key; LlamaIndex: the query string; the enricher: the prompt);
* ``"input.<key>"``: the value under ``<key>`` in the chain input (LangChain: the input
  dict, then ``config["configurable"]``; LlamaIndex: ``FeatureQueryBundle(inputs=...)``;
  the enricher: its ``inputs=``). The key is everything after ``input.``, dots included.

:meth:`RequestDataSpec.resolve` is the one resolver every adapter calls; the values it
returns are checked like written values by the client that sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.settings import ConfigModel

__all__ = [
    "INPUT_PREFIX",
    "QUERY_SOURCE",
    "RequestDataField",
    "RequestDataSpec",
    "RequestSource",
    "request_data_spec",
]

QUERY_SOURCE = "query"
"""The source naming the request's question or query text."""
INPUT_PREFIX = "input."
"""The prefix of a source naming a key of the chain input."""


def _check_source(source: str) -> str:
    if source == QUERY_SOURCE or (
        source.startswith(INPUT_PREFIX) and len(source) > len(INPUT_PREFIX)
    ):
        return source
    raise ValueError(
        f"request data source {source!r} must be 'query' (the question text) or "
        "'input.<key>' (a key of the chain input, e.g. 'input.cart_total')"
    )


RequestSource = Annotated[str, AfterValidator(_check_source)]
"""``"query"`` or ``"input.<key>"`` (see the module docstring)."""


class RequestDataSpec(ConfigModel):
    """Request field sources per entity type: ``{entity_type: {request_field: source}}``.

    Built in code with ``RequestDataSpec.of({"user": {...}})`` (or ``sources=``); inside
    another configuration (``EnricherConfig.request_data``, ``FeatureFilterSpec``) and
    in YAML the mapping itself is given (``request_data: {user: {...}}``).

    Raises:
        FeatureConfigError: a source is neither ``"query"`` nor ``"input.<key>"``, or a
            value is not a mapping (the message names its location).
    """

    sources: dict[str, dict[str, RequestSource]] = Field(
        default_factory=dict,
        description="entity type -> request field -> 'query' or 'input.<key>'.",
    )

    @classmethod
    def of(cls, sources: Mapping[str, Mapping[str, str]]) -> RequestDataSpec:
        """The spec of ``{entity_type: {request_field: source}}``."""
        return cls(sources={etype: dict(fields) for etype, fields in sources.items()})

    def __bool__(self) -> bool:
        return any(self.sources.values())

    def merged(self, other: RequestDataSpec | None) -> RequestDataSpec:
        """Both specs' fields; ``other`` adds to this one.

        Raises:
            FeatureConfigError: both give one field different sources (named).
        """
        if not other:
            return self
        out = {etype: dict(fields) for etype, fields in self.sources.items()}
        for etype, fields in other.sources.items():
            mine = out.setdefault(etype, {})
            for name, source in fields.items():
                if mine.get(name, source) != source:
                    raise FeatureConfigError(
                        f"Request field '{name}' of entity type '{etype}' is declared twice "
                        f"with different sources: {mine[name]!r} and {source!r}; keep one"
                    )
                mine[name] = source
        return RequestDataSpec(sources=out)

    def resolve(
        self,
        *,
        query: str | None,
        inputs: Sequence[Mapping[str, Any]] = (),
        entity_types: Iterable[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """One request's request data, ``{entity_type: {request_field: value}}``.

        Args:
            query: The question or query text (``None`` when the request has none).
            inputs: The chain input's mappings, searched in order (first holder wins).
            entity_types: Resolve only these (the entity types the request names);
                ``None`` resolves every declared one.

        Raises:
            FeatureValidationError: a source names the query and there is none, or an
                input key none of ``inputs`` holds (the message names the field, the
                key and the keys present).
        """
        wanted = None if entity_types is None else set(entity_types)
        out: dict[str, dict[str, Any]] = {}
        for etype, fields in self.sources.items():
            if wanted is not None and etype not in wanted:
                continue
            out[etype] = {
                name: _value(etype, name, src, query, inputs) for name, src in fields.items()
            }
        return {etype: values for etype, values in out.items() if values}


def _value(
    etype: str, name: str, source: str, query: str | None, inputs: Sequence[Mapping[str, Any]]
) -> Any:
    where = f"Request field '{name}' of entity type '{etype}'"
    if source == QUERY_SOURCE:
        if query is None:
            raise FeatureValidationError(
                f"{where} comes from the query text, but this request carries none"
            )
        return query
    key = source[len(INPUT_PREFIX) :]
    for mapping in inputs:
        if key in mapping:
            return mapping[key]
    present = sorted({str(k) for mapping in inputs for k in mapping})
    raise FeatureValidationError(
        f"{where} comes from input key '{key}', which the input does not hold; keys "
        f"present: {', '.join(present) or '(none)'}. Pass '{key}' with the request, or "
        "declare another source"
    )


def request_data_spec(
    spec: RequestDataSpec | Mapping[str, Mapping[str, str]] | None,
) -> RequestDataSpec:
    """``spec`` as a :class:`RequestDataSpec` (an empty one for ``None``): what the
    adapters' ``request_data=`` arguments accept.

    Raises:
        FeatureConfigError: as :class:`RequestDataSpec`.
    """
    if spec is None:
        return RequestDataSpec()
    if isinstance(spec, RequestDataSpec):
        return spec
    return RequestDataSpec.of(spec)


def _from_mapping(value: Any) -> Any:
    return {"sources": dict(value)} if isinstance(value, Mapping) else value


RequestDataField = Annotated[RequestDataSpec, BeforeValidator(_from_mapping)]
"""A :class:`RequestDataSpec` field of another configuration: given as the mapping
itself, ``{entity_type: {request_field: source}}`` (or as a spec)."""
