"""Package ``__init__`` modules that import their members on first use.

A backend package's config module must import cheaply (the YAML loader imports every
config class), so the package re-exports its client and protocol names lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a submodule) on first use.

    Args:
        package: The package's ``__name__``.
        exports: Public name to the module defining it: a submodule of ``package``, or
            an absolute ``llm_featurestore...`` path (a re-export).
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if module.startswith("llm_featurestore.") else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value
        return value

    return __getattr__
