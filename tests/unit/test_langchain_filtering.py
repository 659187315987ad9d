"""The LangChain filter translators without a store: structured filters, each visitor's
output, value rendering and escaping, store selection and its errors.

The stores' own behaviour is pinned in tests/integration/test_langchain_filter_stores.py.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.structured_query import (
    Comparator,
    Comparison,
    Operation,
    Operator,
    StructuredQuery,
    Visitor,
)
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from qdrant_client import models

from langchain_featurestore import FeatureFilteredRetriever, FilterTranslator
from langchain_featurestore._search import SearchCandidates, plan_selection
from langchain_featurestore.filtering import (
    BUILT_IN,
    as_translator,
    describe_filter,
    structured_filter,
    translator_for,
)
from langchain_featurestore.filtering.chroma import ChromaWhereVisitor, chroma_clause
from langchain_featurestore.filtering.milvus import MilvusExprVisitor, milvus_literal
from langchain_featurestore.filtering.predicates import (
    DocumentPredicateVisitor,
    MetadataPredicateVisitor,
)
from langchain_featurestore.filtering.qdrant import QdrantFilterVisitor
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import (
    FeatureFilterSpec,
    FilterRule,
    ResolvedCondition,
    chroma_where,
)
from tests.filter_corpus import DOCUMENTS, SPEC, USERS, vector_of

OPS = ("eq", "ne", "in", "nin", "lt", "lte", "gt", "gte")
_EQUALITY = ("eq", "ne", "in", "nin")  # orderings take numbers only


def cond(field: str, op: str, value: Any) -> ResolvedCondition:
    return ResolvedCondition(
        field=field,
        op=op,  # type: ignore[arg-type]
        value=value,
        rule=FilterRule(field=field, op=op, feature="f"),  # type: ignore[arg-type]
    )


def render(visitor: Visitor, conditions: Sequence[ResolvedCondition]) -> dict[str, Any]:
    return FilterTranslator(visitor).search_kwargs(conditions)


# -- the structured filter -------------------------------------------------------------


def test_no_condition_is_no_filter_and_no_kwargs() -> None:
    assert structured_filter([]) is None
    assert FilterTranslator(ChromaWhereVisitor()).search_kwargs([]) == {}


def test_one_condition_is_a_comparison_and_several_an_and() -> None:
    one = structured_filter([cond("price", "lte", 180.0)])
    assert isinstance(one, Comparison)
    assert (one.comparator, one.attribute, one.value) == (Comparator.LTE, "price", 180.0)
    both = structured_filter([cond("a", "eq", True), cond("b", "in", ("x", "y"))])
    assert isinstance(both, Operation)
    assert both.operator == Operator.AND
    [a, b] = both.arguments
    assert isinstance(a, Comparison)
    assert isinstance(b, Comparison)
    assert a.value is True
    assert b.value == ["x", "y"]


@pytest.mark.parametrize("user_id", list(USERS))
def test_the_chroma_visitor_gives_the_cores_where(user_id: str) -> None:
    conditions = SPEC.resolve(vector_of(user_id))
    where = chroma_where(conditions)
    assert render(ChromaWhereVisitor(), conditions) == ({} if where is None else {"filter": where})


def test_chroma_fractional_operands_are_rewritten_so_truncation_cannot_err() -> None:
    below, above = math.nextafter(10.5, -math.inf), math.nextafter(-10.5, math.inf)
    assert chroma_clause("n", "lt", 10.5) == {"n": {"$lte": below}}
    assert chroma_clause("n", "lte", 10.5) == {"n": {"$lte": 10.5}}
    assert chroma_clause("n", "gt", 10.5) == {"n": {"$gt": 10.5}}
    assert chroma_clause("n", "gte", 10.5) == {"n": {"$gt": below}}
    assert chroma_clause("n", "lt", -10.5) == {"n": {"$lt": -10.5}}
    assert chroma_clause("n", "lte", -10.5) == {"n": {"$lt": above}}
    assert chroma_clause("n", "gt", -10.5) == {"n": {"$gte": above}}
    assert chroma_clause("n", "gte", -10.5) == {"n": {"$gte": -10.5}}
    assert chroma_clause("n", "eq", 9.5) == {"$and": [{"n": {"$eq": 9.5}}, {"n": {"$nin": [9]}}]}
    assert chroma_clause("n", "ne", -0.5) == {"$or": [{"n": {"$ne": -0.5}}, {"n": {"$in": [0]}}]}
    assert chroma_clause("n", "in", [9.0, 10.5]) == {
        "$and": [{"n": {"$in": [9.0, 10.5]}}, {"n": {"$nin": [10]}}]
    }
    assert chroma_clause("n", "nin", [10.0, 10.5]) == {"n": {"$nin": [10.0, 10.5]}}
    for op, value in [("lt", 10.0), ("eq", 3), ("in", ["a"]), ("eq", True), ("gt", 1e300)]:
        assert chroma_clause("n", op, value) == {"n": {f"${op}": value}}


# -- predicates (InMemoryVectorStore, FAISS) -------------------------------------------

METADATA: list[dict[str, Any]] = [
    {"c": "red", "n": 9, "b": True},
    {"c": "blue", "n": 9.0, "b": False},
    {"n": 10},
    {"c": "red", "n": True},
    {},
]
VALUES: dict[str, Any] = {"c": "red", "n": 9, "b": True}
LISTS: dict[str, Any] = {"c": ["red", "x"], "n": [9, 12], "b": [False]}


PREDICATE_CASES = [(f, op) for f in ("c", "n", "b") for op in OPS if f == "n" or op in _EQUALITY]


@pytest.mark.parametrize(("field", "op"), PREDICATE_CASES)
def test_predicates_keep_what_the_core_keeps(field: str, op: str) -> None:
    c = cond(field, op, LISTS[field] if op in ("in", "nin") else VALUES[field])
    [predicate] = render(MetadataPredicateVisitor(), [c]).values()
    [on_docs] = render(DocumentPredicateVisitor(), [c]).values()
    for metadata in METADATA:
        assert predicate(metadata) is c.matches(metadata), metadata
        assert on_docs(Document(page_content="x", metadata=metadata)) is c.matches(metadata)


def test_a_predicate_reads_as_its_conditions() -> None:
    conditions = [cond("category", "eq", "bags"), cond("brand", "nin", ["acme"])]
    [predicate] = render(DocumentPredicateVisitor(), conditions).values()
    assert repr(predicate) == "category == 'bags' and brand not in ['acme']"
    either = Operation(
        operator=Operator.OR,
        arguments=[
            Comparison(comparator=Comparator.GT, attribute="p", value=1),
            Operation(
                operator=Operator.NOT,
                arguments=[Comparison(comparator=Comparator.EQ, attribute="q", value="z")],
            ),
        ],
    )
    predicate = either.accept(MetadataPredicateVisitor())
    assert repr(predicate) == "p > 1 or not (q == 'z')"
    assert predicate({"p": 0, "q": "y"}) is True
    assert predicate({"p": 0, "q": "z"}) is False


# -- Qdrant ------------------------------------------------------------------------------


def test_qdrant_keeps_chromas_kinds_rules() -> None:
    [found] = render(QdrantFilterVisitor(), [cond("size", "eq", 9)]).values()
    assert found == models.Filter(
        must=[models.FieldCondition(key="metadata.size", range=models.Range(gte=9, lte=9))]
    )
    [flag] = render(QdrantFilterVisitor(), [cond("on", "ne", True)]).values()
    assert flag == models.Filter(  # a negation is a Filter already: not wrapped again
        must_not=[models.FieldCondition(key="metadata.on", match=models.MatchValue(value=True))]
    )
    [names] = render(QdrantFilterVisitor("meta"), [cond("c", "in", ["a", "b"])]).values()
    assert names.must == [
        models.FieldCondition(key="meta.c", match=models.MatchAny(any=["a", "b"]))
    ]
    [numbers] = render(QdrantFilterVisitor(), [cond("n", "nin", [1, 2.5])]).values()
    [inner] = numbers.must_not
    assert [c.range for c in inner.should] == [
        models.Range(gte=1, lte=1),
        models.Range(gte=2.5, lte=2.5),
    ]


def test_qdrant_quotes_unusual_field_names_and_refuses_a_double_quote() -> None:
    visitor = QdrantFilterVisitor()
    assert visitor.key("a-b_1") == "metadata.a-b_1"
    assert visitor.key("a.b c") == 'metadata."a.b c"'
    with pytest.raises(FeatureConfigError) as err:
        visitor.key('say "hi"')
    assert str(err.value) == (
        "Qdrant filters have no field name 'say \"hi\"'; the field names they support: "
        'names without a double quote (")'
    )


# -- Milvus ------------------------------------------------------------------------------


def test_milvus_renders_each_operator_and_keeps_kinds() -> None:
    visitor = MilvusExprVisitor()
    cases = [
        ("c", "eq", "shoes", 'c == "shoes"'),
        ("c", "ne", "shoes", 'c not in ["shoes"]'),
        ("c", "in", ["a", "b"], 'c in ["a", "b"]'),
        ("c", "nin", ["a"], 'c not in ["a"]'),
        ("n", "lt", 3, "n < 3"),
        ("n", "lte", 180.0, "n <= 180.0"),
        ("n", "gt", 1e-05, "n > 1e-05"),
        ("n", "gte", -2, "n >= -2"),
        ("b", "eq", False, "b == false"),
        ("b", "in", [True], "b in [true]"),
    ]
    for field, op, value, expr in cases:
        assert render(visitor, [cond(field, op, value)]) == {"expr": expr}
    both = [cond("c", "eq", "x"), cond("n", "lte", 2.5)]
    assert render(visitor, both) == {"expr": '(c == "x") and (n <= 2.5)'}


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ('x" or 1==1 or "', '"x\\" or 1==1 or \\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("two\nlines\r\ttab", '"two\\nlines\\r\\ttab"'),
        ("it's", '"it\'s"'),
        ("\\", '"\\\\"'),
        ("é中🙂\x00", '"é中🙂\x00"'),
    ],
)
def test_milvus_strings_are_escaped_literals(value: str, literal: str) -> None:
    assert milvus_literal(value) == literal


def test_milvus_names_fields_by_the_stores_layout() -> None:
    assert MilvusExprVisitor().field("price") == "price"
    assert MilvusExprVisitor(dynamic_fields=True).field("unit price") == '$meta["unit price"]'
    assert MilvusExprVisitor(dynamic_fields=True).field("in") == '$meta["in"]'
    assert MilvusExprVisitor(json_field="metadata").field("a") == 'metadata["a"]'
    with pytest.raises(FeatureConfigError) as err:
        MilvusExprVisitor().field('a" or "1')
    message = str(err.value)
    assert "Milvus field 'a\" or \"1' is not an identifier" in message
    assert "enable_dynamic_field=True" in message


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_milvus_refuses_a_number_it_cannot_write(value: float) -> None:
    with pytest.raises(FeatureConfigError) as err:
        milvus_literal(value)
    assert str(err.value) == (
        f"A Milvus expression cannot hold the number {value!r}; filter values must be "
        "finite numbers, strings or booleans"
    )
    with pytest.raises(FeatureConfigError, match="cannot hold dict"):
        milvus_literal({"a": 1})


# -- what a visitor cannot express -----------------------------------------------------


@pytest.mark.parametrize(
    ("visitor", "store"),
    [
        (ChromaWhereVisitor(), "Chroma"),
        (MetadataPredicateVisitor(), "FAISS"),
        (DocumentPredicateVisitor(), "InMemoryVectorStore"),
        (QdrantFilterVisitor(), "Qdrant"),
        (MilvusExprVisitor(), "Milvus"),
    ],
)
def test_a_comparator_a_store_lacks_is_refused_by_name(visitor: Visitor, store: str) -> None:
    like = Comparison(comparator=Comparator.LIKE, attribute="title", value="run%")
    query = StructuredQuery(query="q", filter=like)
    with pytest.raises(FeatureConfigError) as err:
        visitor.visit_structured_query(query)
    assert str(err.value) == (
        f"{store} filters have no comparator 'like' (field 'title'); the comparators they "
        "support: eq, ne, in, nin, lt, lte, gt, gte"
    )


def test_chroma_refuses_not() -> None:
    negated = Operation(
        operator=Operator.NOT,
        arguments=[Comparison(comparator=Comparator.EQ, attribute="a", value=1)],
    )
    with pytest.raises(FeatureConfigError) as err:
        negated.accept(ChromaWhereVisitor())
    assert str(err.value) == (
        "Chroma filters have no operator 'not'; the operators they support: and, or"
    )


# -- choosing the translator -------------------------------------------------------------


class NotesStore(VectorStore):
    """A vector store with no built-in translator, which records its searches' kwargs."""

    def __init__(self, docs: Iterable[Document] = ()) -> None:
        self.docs = list(docs)
        self.searches: list[dict[str, Any]] = []

    def add_texts(self, texts: Iterable[str], metadatas: Any = None, **kwargs: Any) -> list[str]:
        raise NotImplementedError

    @classmethod
    def from_texts(
        cls, texts: list[str], embedding: Embeddings, metadatas: Any = None, **kwargs: Any
    ) -> NotesStore:
        raise NotImplementedError

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        self.searches.append(kwargs)
        keep = kwargs.get("only", lambda doc: True)
        return [d for d in self.docs if keep(d)][:k]


def test_an_unknown_store_is_named_with_the_built_in_ones_and_the_way_out() -> None:
    with pytest.raises(FeatureConfigError) as err:
        FeatureFilteredRetriever(
            vectorstore=NotesStore(), filter_spec=SPEC, client=LocalFeatureStore()
        )
    message = str(err.value)
    assert message.startswith(
        "No built-in metadata filter for vector store NotesStore "
        f"({__name__}.NotesStore). Built in: Chroma (langchain_chroma, [chroma]), "
        "InMemoryVectorStore (langchain_core, [langchain]), "
        "QdrantVectorStore (langchain_qdrant, [qdrant]), FAISS (langchain_community, [faiss]), "
        "Milvus (langchain_milvus, [milvus]). For another store pass filter_translator=: "
    )
    assert "Visitor" in message
    assert "function of the resolved conditions" in message


def test_a_spec_without_rules_needs_no_translator() -> None:
    retriever = FeatureFilteredRetriever(
        vectorstore=NotesStore(), filter_spec=FeatureFilterSpec(), client=LocalFeatureStore()
    )
    assert retriever.translator is None


def test_the_built_in_stores_are_chosen_by_class_path() -> None:
    assert [s.name for s in BUILT_IN] == [
        "Chroma",
        "InMemoryVectorStore",
        "QdrantVectorStore",
        "FAISS",
        "Milvus",
    ]
    memory = translator_for(InMemoryVectorStore(DeterministicFakeEmbedding(size=4)))
    assert (memory.name, memory.in_memory_match) == ("InMemoryVectorStore", True)

    class MyMemory(InMemoryVectorStore):
        pass

    assert (
        translator_for(MyMemory(DeterministicFakeEmbedding(size=4))).name == "InMemoryVectorStore"
    )


def test_choosing_a_translator_imports_no_store_package() -> None:
    code = (
        "import sys\n"
        "from langchain_core.embeddings import DeterministicFakeEmbedding\n"
        "from langchain_core.vectorstores import InMemoryVectorStore\n"
        "from langchain_featurestore.filtering import translator_for\n"
        "translator_for(InMemoryVectorStore(DeterministicFakeEmbedding(size=4)))\n"
        "stores = ('chromadb', 'langchain_chroma', 'qdrant_client', 'langchain_qdrant',\n"
        "          'faiss', 'langchain_community', 'pymilvus', 'langchain_milvus')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(stores)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class OnlyVisitor(Visitor):
    """A custom store's visitor: a predicate under the store's own keyword ``only``."""

    def visit_comparison(self, comparison: Comparison) -> Any:
        return lambda doc: doc.metadata.get(comparison.attribute) == comparison.value

    def visit_operation(self, operation: Operation) -> Any:
        parts = [arg.accept(self) for arg in operation.arguments]
        return lambda doc: all(p(doc) for p in parts)

    def visit_structured_query(
        self, structured_query: StructuredQuery
    ) -> tuple[str, dict[str, Any]]:
        found = structured_query.filter
        return structured_query.query, {} if found is None else {"only": found.accept(self)}


def _docs() -> list[Document]:
    return [
        Document(id="a", page_content="a", metadata={"category": "bags", "brand": "acme"}),
        Document(id="b", page_content="b", metadata={"category": "tents", "brand": "acme"}),
    ]


def test_a_custom_visitor_says_its_own_search_keyword() -> None:
    store = NotesStore(_docs())
    spec = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="cat")])
    client = LocalFeatureStore()
    client.write_features("u1", "user", {"cat": "tents"})
    retriever = FeatureFilteredRetriever(
        vectorstore=store, filter_spec=spec, client=client, filter_translator=OnlyVisitor()
    )
    assert [d.id for d in retriever.invoke("q", user_id="u1")] == ["b"]
    assert list(store.searches[-1]) == ["only"]
    assert retriever.translator is not None
    assert retriever.translator.in_memory_match is False


def test_the_old_function_of_conditions_still_filters() -> None:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=8))
    store.add_documents(_docs())
    spec = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="cat")])
    client = LocalFeatureStore()
    client.write_features("u1", "user", {"cat": "bags"})
    seen: list[list[ResolvedCondition]] = []

    def only(conditions: Sequence[ResolvedCondition]) -> Any:
        seen.append(list(conditions))
        return lambda doc: all(c.matches(doc.metadata) for c in conditions)

    retriever = FeatureFilteredRetriever(
        vectorstore=store, filter_spec=spec, client=client, filter_translator=only
    )
    assert [d.id for d in retriever.invoke("q", user_id="u1")] == ["a"]
    assert [[(c.field, c.value) for c in conds] for conds in seen] == [[("category", "bags")]]


def test_a_filter_translator_of_another_kind_is_refused() -> None:
    with pytest.raises(FeatureConfigError) as err:
        as_translator({"category": "shoes"})
    assert str(err.value) == (
        "filter_translator must be a FilterTranslator, a langchain_core.structured_query "
        "Visitor or a function of the resolved conditions; got dict {'category': 'shoes'}"
    )


# -- the candidate pre-filter, only for pinned stores ------------------------------------


@pytest.mark.parametrize("pinned", [True, False])
def test_candidates_are_matched_in_memory_only_for_pinned_translators(pinned: bool) -> None:
    docs = [Document(id=d.id, page_content=d.text, metadata=d.metadata) for d in DOCUMENTS[:20]]
    candidates = SearchCandidates("q", None, docs, fetch_k=50)  # exhaustive: 20 < 50
    translator = FilterTranslator(ChromaWhereVisitor(), in_memory_match=pinned)
    selection, needed = plan_selection(SPEC, translator, candidates, vector_of("u004"), k=3)
    assert needed is (not pinned)
    expected = [d for d in docs if SPEC.matches(vector_of("u004"), d.metadata)][:3]
    assert selection.primary == (expected if pinned else [])
    assert selection.filter_kwargs == {"filter": SPEC.to_chroma_where(vector_of("u004"))}


# -- what the tracing event shows --------------------------------------------------------


def test_the_event_shows_any_filter_json_safe() -> None:
    assert describe_filter(None) is None
    assert describe_filter({}) is None
    assert describe_filter({"filter": {"a": {"$eq": 1}}}) == {"a": {"$eq": 1}}
    assert describe_filter({"expr": 'a == "x"'}) == 'a == "x"'
    qdrant = models.Filter(
        must=[models.FieldCondition(key="m.a", match=models.MatchValue(value=1))]
    )
    assert describe_filter({"filter": qdrant}) == {"must": [{"key": "m.a", "match": {"value": 1}}]}
    [predicate] = render(MetadataPredicateVisitor(), [cond("a", "lte", 2.5)]).values()
    assert describe_filter({"filter": predicate}) == "a <= 2.5"
    assert describe_filter({"expr": "a < 1", "k": (1, 2)}) == {"expr": "a < 1", "k": [1, 2]}
