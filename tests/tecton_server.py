"""A local stand-in for Tecton's FeatureService HTTP API (Tecton itself is a cloud service).

It speaks the documented JSON of ``POST /api/v1/feature-service/get-features``,
``/get-features-batch`` and ``/metadata``: it checks ``Authorization: Tecton-key <key>``
(401 otherwise), the workspace and feature service names (404 otherwise), accepts the
request parameters in snake_case and camelCase (as Tecton's JSON parser does), honours
``metadata_options``, encodes int64 values as decimal strings, and answers an unknown
join key with nulls and status ``MISSING_DATA``. Errors look like Tecton's:
``{"error": ..., "message": ..., "code": ...}``.

On-demand features (``on_demand``) are computed per row from the stored row and the
row's ``request_context_map``; the metadata then lists the service's
``inputRequestContextKeys``, and a row whose map lacks one of them, or holds a value of
the wrong type, is answered 400 as Tecton does.

One liberty: in a batch response Tecton sends one ``effectiveTime`` per feature (the
view's serving time) while this server sends a per-row list, because its rows carry
per-entity times (the contract's STALE entity). The client reads both forms.

Tests can make it slow (``delay_s``) or fail (``fail_status``; ``fail_next`` fails only
that many upcoming requests, with 503), can have a path answered with a canned body
(``canned``: Tecton's published response samples, tests/data/tecton/) and can inspect
``requests``. Run ``python -m tests.tecton_server`` to serve the contract dataset.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORKSPACE = "prod"
FEATURE_SERVICE = "user_fs"
JOIN_KEY = "user_id"
API_KEY = "tecton-test-key-0123456789"

# (full name, Tecton data type). "segment" is in two views, so the bare name is ambiguous.
FEATURES: list[tuple[str, dict[str, Any]]] = [
    ("user_stats.favorite_category", {"type": "string"}),
    ("user_stats.avg_order_value", {"type": "float64"}),
    ("user_stats.purchases_30d", {"type": "int64"}),
    ("user_stats.segment", {"type": "string"}),
    ("user_marketing.segment", {"type": "string"}),
]


OnDemand = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
"""An on-demand feature: (the stored row by full name, the request context) -> value."""

REQUEST_CONTEXT_KEYS: list[tuple[str, dict[str, Any]]] = [
    ("cart_total", {"type": "float64"}),
    ("query", {"type": "string"}),
]
"""The request context of :data:`ON_DEMAND` (a cart total and the question text)."""


def _cart_ratio(row: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    aov = row.get("user_stats.avg_order_value")
    return round(float(context["cart_total"]) / aov, 4) if aov else None


ON_DEMAND: dict[str, tuple[dict[str, Any], OnDemand]] = {
    "user_request.cart_vs_aov": ({"type": "float64"}, _cart_ratio),
    "user_request.query_words": ({"type": "int64"}, lambda row, ctx: len(ctx["query"].split())),
}
"""Example on-demand features: the cart total over the user's average order value, and
the number of words in the question."""


def _param(params: Mapping[str, Any], snake: str, default: Any = None) -> Any:
    head, *rest = snake.split("_")
    camel = head + "".join(part.title() for part in rest)
    if snake in params:
        return params[snake]
    return params.get(camel, default)


def _encode(value: Any, data_type: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    if data_type.get("type") == "int64":
        return str(value)
    return value


class _BadRequest(Exception):
    """A request Tecton answers with 400 (the message is the error body's)."""


def _context_error(context: Any, keys: list[tuple[str, dict[str, Any]]]) -> str | None:
    """Tecton's check of one row's ``request_context_map``: every key, each of its type."""
    if not isinstance(context, Mapping):
        return "request_context_map must be a map of request context key to value"
    missing = [name for name, _ in keys if name not in context]
    if missing:
        return f"Missing required request context key(s): {', '.join(missing)}"
    for name, dtype in keys:
        value, kind = context[name], dtype.get("type")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {
            "float64": number,
            "int64": (number and float(value).is_integer()) or isinstance(value, str),
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
        }.get(str(kind), True)
        if not ok:
            return f"Request context key '{name}' must be {kind}, got {type(value).__name__}"
    return None


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TectonTestServer:
    """A threaded HTTP server holding ``rows`` (join key value -> {full name: value}).

    Args:
        rows: The online store: for each join key value, its feature values by full name.
        effective_times: Per join key value, the ``effectiveTime`` of its values
            (``default_time`` when absent).
        api_key: The only key accepted.
        features: The service's features, ``(full name, dataType)``, in response order.
        request_context_keys: The service's request context, ``(name, dataType)``.
        on_demand: Features computed per row, ``{full name: (dataType, function)}``,
            answered after ``features``.
    """

    def __init__(
        self,
        rows: Mapping[str, Mapping[str, Any]],
        *,
        effective_times: Mapping[str, datetime] | None = None,
        default_time: datetime | None = None,
        api_key: str = API_KEY,
        workspace: str = WORKSPACE,
        feature_service: str = FEATURE_SERVICE,
        join_key: str = JOIN_KEY,
        features: list[tuple[str, dict[str, Any]]] | None = None,
        request_context_keys: list[tuple[str, dict[str, Any]]] | None = None,
        on_demand: Mapping[str, tuple[dict[str, Any], OnDemand]] | None = None,
    ) -> None:
        self.rows = {k: dict(v) for k, v in rows.items()}
        self.effective_times = dict(effective_times or {})
        self.default_time = default_time or datetime.now(timezone.utc)
        self.api_key = api_key
        self.workspace = workspace
        self.feature_service = feature_service
        self.join_key = join_key
        self.on_demand = dict(on_demand or {})
        self.features = [
            *(features or FEATURES),
            *((name, dtype) for name, (dtype, _) in self.on_demand.items()),
        ]
        self.request_context_keys = list(request_context_keys or [])
        self.delay_s = 0.0
        """Seconds to sleep before answering each request."""
        self.fail_status: int | None = None
        """When set, every request is answered with this HTTP status and an error body."""
        self.fail_next = 0
        """Answer this many upcoming requests with 503, then serve again."""
        self.canned: dict[str, Any] = {}
        """path -> the JSON body answered there (after the key and names are checked)."""
        self.drop_next = 0
        """Close this many upcoming connections without answering (like a dropped keep-alive)."""
        self.requests: list[tuple[str, dict[str, Any]]] = []
        """Every request received: (path, JSON body)."""
        self.received: list[str] = []
        """The path of every request, failed on purpose or not."""
        self.auth_headers: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        """Most requests handled at the same time (to observe client concurrency)."""
        self._count_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> TectonTestServer:
        handler = _make_handler(self)
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
            name="tecton-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ------------------------------------------------------------------ answers

    def answer(self, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, Any]:
        """Status and JSON body for one request (the whole API, minus the socket)."""
        with self._count_lock:
            self.received.append(path)
        if self.fail_status is not None:
            return self.fail_status, _error(f"injected failure {self.fail_status}", 13)
        with self._count_lock:
            failing = self.fail_next > 0
            self.fail_next -= failing
        if failing:
            return 503, _error("injected failure 503", 14)
        auth = headers.get("Authorization", "")
        self.auth_headers.append(auth)
        if auth != f"Tecton-key {self.api_key}":
            return 401, _error("invalid api key: authenticate with 'Tecton-key <key>'", 16)
        try:
            body = json.loads(raw)
            params = body["params"]
        except (ValueError, KeyError, TypeError):
            return 400, _error('request body must be JSON: {"params": {...}}', 3)
        self.requests.append((path, body))
        workspace = _param(params, "workspace_name")
        service = _param(params, "feature_service_name")
        if workspace != self.workspace:
            return 404, _error(f"Workspace '{workspace}' not found", 5)
        if service != self.feature_service:
            return 404, _error(f"Unknown feature_service_name: {service}", 5)
        if path in self.canned:
            return 200, self.canned[path]
        if path == "/api/v1/feature-service/metadata":
            return 200, self._metadata()
        options = _param(params, "metadata_options", {}) or {}
        try:
            if path == "/api/v1/feature-service/get-features":
                return 200, self._features([self._row(params)], options, batch=False)
            if path == "/api/v1/feature-service/get-features-batch":
                items = _param(params, "request_data", []) or []
                return 200, self._features([self._row(i) for i in items], options, batch=True)
        except _BadRequest as exc:
            return 400, _error(str(exc), 3)
        return 404, _error(f"Not found: {path}", 5)

    def _row(self, item: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """One row's join key value and request context (400 when either is wrong)."""
        join_key_map = _param(item, "join_key_map", {})
        if not isinstance(join_key_map, Mapping) or self.join_key not in join_key_map:
            raise _BadRequest(f"Missing join key: {self.join_key}")
        value = join_key_map[self.join_key]
        if not isinstance(value, str):
            raise _BadRequest(f"Join key {self.join_key} must be a string")
        context = _param(item, "request_context_map", {}) or {}
        problem = _context_error(context, self.request_context_keys)
        if problem is not None:
            raise _BadRequest(problem)
        return value, dict(context)

    def _metadata(self) -> dict[str, Any]:
        return {
            "featureServiceType": "DEFAULT",
            "inputJoinKeys": [{"name": self.join_key, "dataType": {"type": "string"}}],
            "inputRequestContextKeys": [
                {"name": name, "dataType": dtype} for name, dtype in self.request_context_keys
            ],
            "featureValues": [{"name": name, "dataType": dtype} for name, dtype in self.features],
        }

    def _features(
        self, rows: list[tuple[str, dict[str, Any]]], options: Mapping[str, Any], *, batch: bool
    ) -> dict[str, Any]:
        results = []
        statuses: list[list[str]] = [[] for _ in self.features]
        times: list[list[str | None]] = [[] for _ in self.features]
        for key, context in rows:
            stored = self.rows.get(key)
            when = _iso(self.effective_times.get(key, self.default_time))
            values = []
            for i, (name, dtype) in enumerate(self.features):
                if name in self.on_demand:  # computed now: present, no effective time
                    value = self.on_demand[name][1](stored or {}, context)
                    values.append(_encode(value, dtype))
                    statuses[i].append("PRESENT")
                    times[i].append(None)
                    continue
                present = stored is not None and name in stored
                values.append(_encode(stored[name], dtype) if present else None)  # type: ignore[index]
                statuses[i].append("PRESENT" if present else "MISSING_DATA")
                times[i].append(when if present else None)
            results.append({"features": values})
        metas = []
        for i, (name, dtype) in enumerate(self.features):
            meta: dict[str, Any] = {}
            if _param(options, "include_names"):
                meta["name"] = name
            if _param(options, "include_data_types"):
                meta["dataType"] = dtype
            if _param(options, "include_serving_status"):
                meta["status"] = statuses[i] if batch else statuses[i][0]
            if _param(options, "include_effective_times"):
                stamp: Any = times[i] if batch else times[i][0]
                if stamp is not None:
                    meta["effectiveTime"] = stamp
            metas.append(meta)
        return {"result": results if batch else results[0], "metadata": {"features": metas}}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default listen backlog (5) drops bursts of connections
    daemon_threads = True


def _error(message: str, code: int) -> dict[str, Any]:
    return {"error": message, "message": message, "code": code}


def _make_handler(server: TectonTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with server._count_lock:
                drop = server.drop_next > 0
                server.drop_next -= drop
            if drop:
                self.close_connection = True
                return
            with server._count_lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                if server.delay_s:
                    time.sleep(server.delay_s)
                status, body = server.answer(self.path, dict(self.headers.items()), raw)
            finally:
                with server._count_lock:
                    server.in_flight -= 1
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_tecton_server(
    rows: Mapping[str, Mapping[str, Any]], **kwargs: Any
) -> Iterator[TectonTestServer]:
    """Start a :class:`TectonTestServer` on a free loopback port and always stop it."""
    server = TectonTestServer(rows, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def contract_rows() -> tuple[dict[str, dict[str, Any]], dict[str, datetime]]:
    """The contract dataset (tests/contract/harness.py) as Tecton rows and effective times."""
    from tests.contract import harness as h

    rows: dict[str, dict[str, Any]] = {}
    times: dict[str, datetime] = {}
    for eid, feats in {**h.FRESH, **h.BULK, h.STALE_ID: h.STALE}.items():
        row = {f"user_stats.{name}": value for name, value in feats.items()}
        row["user_stats.segment"] = f"seg-{eid}"
        row["user_marketing.segment"] = f"mkt-{eid}"
        rows[eid] = row
    times[h.STALE_ID] = h.STALE_TIMESTAMP
    return rows, times


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    data, stamps = contract_rows()
    srv = TectonTestServer(data, effective_times=stamps).start(
        int(sys.argv[1]) if sys.argv[1:] else 0
    )
    print(
        f"Tecton test server on {srv.url} (workspace {WORKSPACE!r}, service "
        f"{FEATURE_SERVICE!r}, key {API_KEY!r}); Ctrl-C to stop"
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()
