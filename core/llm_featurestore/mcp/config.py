"""The ``mcp:`` section of a configuration file: which task's policy the tools follow,
who the user is, and where the streamable-HTTP transport listens."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from llm_featurestore.settings import ConfigModel

__all__ = ["LOOPBACK_HOSTS", "McpConfig", "McpHttpConfig"]

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
"""Where the HTTP transport may listen: this machine only (put a gateway in front of it)."""


class McpHttpConfig(ConfigModel):
    """The streamable-HTTP transport (``llm-featurestore mcp --http``)."""

    config_name = "mcp.http"

    host: str = Field("127.0.0.1", description="A loopback address: 127.0.0.1, ::1 or localhost.")
    port: int = Field(8765, ge=1, le=65535, description="TCP port.")
    path: str = Field("/mcp", pattern=r"^/[A-Za-z0-9_\-/]*$", description="Endpoint path.")

    @field_validator("host")
    @classmethod
    def _loopback(cls, host: str) -> str:
        loopback = host == "localhost"
        if not loopback:
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
        if not loopback:
            raise ValueError(
                "the MCP server listens on this machine only (put a gateway in front "
                f"of it); use one of {', '.join(LOOPBACK_HOSTS)}"
            )
        return host


class McpConfig(ConfigModel):
    """How ``llm-featurestore mcp`` serves the feature tools.

    The user the tools answer about comes, in this order, from the tool call's
    ``entity_id`` argument (only with ``allow_entity_argument: true``), the HTTP
    session's ``identity_header``, then ``entities`` (or ``--entity`` on the command
    line). The model never chooses the user unless the configuration says it may.
    """

    config_name = "mcp"

    task_type: str = Field(
        "general",
        description="The enrichment task whose features and sensitivity policy the tools follow.",
    )
    entities: dict[str, str] = Field(
        default_factory=dict,
        description='Fixed ids {entity_type: id}, e.g. {user: "1001"}: a server per user '
        "or per session, started by the application.",
    )
    entity_type: str = Field(
        "user", min_length=1, description="The entity a header or tool argument names."
    )
    identity_header: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9\-]+$",
        description="HTTP only: the request header whose value is the entity id, set by "
        "the application's gateway (e.g. X-User-Id), never by the model.",
    )
    allow_entity_argument: bool = Field(
        False,
        description="Let the model pass entity_id to the tools (an operator's console, "
        "never an end user's assistant).",
    )
    server_name: str = Field("llm-featurestore", min_length=1, description="The MCP server name.")
    http: McpHttpConfig = Field(default_factory=McpHttpConfig)
