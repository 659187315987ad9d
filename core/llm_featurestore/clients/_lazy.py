"""Package ``__init__`` modules that import their members on first use.

A backend package's config module must import cheaply (the YAML loader imports every
config class), so the package re-exports its client and protocol names lazily, with
the library's one lazy-export rule (:func:`llm_featurestore._lazy.lazy_exports`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llm_featurestore import _lazy

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a submodule) on first use.

    Args:
        package: The package's ``__name__``.
        exports: Public name to the module defining it: a submodule of ``package``, or
            an absolute ``llm_featurestore...`` path (a re-export).
    """
    absolute = {
        name: module if module.startswith("llm_featurestore.") else f"{package}.{module}"
        for name, module in exports.items()
    }
    return _lazy.lazy_exports(package, absolute, list(exports))[0]
