"""An MCP server for the feature tools: ``llm-featurestore mcp`` (the ``[mcp]`` extra).

``config`` holds the ``mcp:`` section (:class:`McpConfig`), ``tools`` the answers and
the identity rule (:class:`FeatureTools`), ``server`` the official SDK's server
(:func:`build_server`, :func:`run_server`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.mcp.config import McpConfig, McpHttpConfig
    from llm_featurestore.mcp.server import TOOL_NAMES, build_server, run_server
    from llm_featurestore.mcp.tools import FeatureTools

__all__ = ["TOOL_NAMES", "FeatureTools", "McpConfig", "McpHttpConfig", "build_server", "run_server"]

_EXPORTS = {
    "McpConfig": "llm_featurestore.mcp.config",
    "McpHttpConfig": "llm_featurestore.mcp.config",
    "FeatureTools": "llm_featurestore.mcp.tools",
    "TOOL_NAMES": "llm_featurestore.mcp.server",
    "build_server": "llm_featurestore.mcp.server",
    "run_server": "llm_featurestore.mcp.server",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
