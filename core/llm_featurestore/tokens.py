"""Moved to :mod:`llm_featurestore.prompting.tokens`; this module keeps old imports working.

``EncodingUnavailableError`` lives in :mod:`llm_featurestore.errors` and is re-exported
here as before.
"""

from llm_featurestore.errors import EncodingUnavailableError
from llm_featurestore.prompting.tokens import (
    DEFAULT_ENCODING,
    TokenCounter,
    get_token_counter,
    load_encoding,
)
from llm_featurestore.prompting.tokens import llama_index_cache_dir as llama_index_cache_dir

__all__ = [
    "DEFAULT_ENCODING",
    "EncodingUnavailableError",
    "TokenCounter",
    "get_token_counter",
    "load_encoding",
]
