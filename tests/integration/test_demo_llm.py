"""The demo's OpenAI-compatible client against a local HTTP server speaking that API.

No model can run here, so the server is a small stand-in that answers
``POST /chat/completions`` with the documented response shape and records requests.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from examples.shopping_assistant.llm import DEFAULT_BASE_URL, DEFAULT_MODEL, ChatEndpoint, LLMError
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []
    mode: ClassVar[str] = "ok"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        if self.mode == "unauthorised":
            self._send(401, {"error": {"message": "invalid api key"}})
        elif self.mode == "empty":
            self._send(200, {"choices": []})
        else:
            last = body["messages"][-1]["content"]
            self._send(
                200, {"choices": [{"message": {"role": "assistant", "content": f"echo: {last}"}}]}
            )

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextlib.contextmanager
def chat_server() -> Iterator[str]:
    """Run the stand-in server on a free loopback port; yields its base URL (``.../v1``)."""
    _Handler.requests = []
    _Handler.mode = "ok"
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[str]:
    with chat_server() as url:
        yield url


def test_complete_posts_chat_messages_with_the_key_and_model(server: str) -> None:
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server + "/", "OPENAI_MODEL": "tiny"}
    endpoint = ChatEndpoint.from_env(env)
    assert endpoint is not None
    reply = endpoint.complete([{"role": "user", "content": "hello"}])
    assert reply == "echo: hello"
    (request,) = _Handler.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny"
    assert request["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert endpoint.describe() == f"tiny @ {server}"
    assert "sk-test" not in repr(endpoint)


def test_an_error_status_says_what_to_check(server: str) -> None:
    _Handler.mode = "unauthorised"
    endpoint = ChatEndpoint.from_env({"OPENAI_API_KEY": "bad", "OPENAI_BASE_URL": server})
    assert endpoint is not None
    with pytest.raises(LLMError, match=r"answered 401: .*Check OPENAI_API_KEY and OPENAI_MODEL"):
        endpoint.complete([{"role": "user", "content": "x"}])


def test_a_response_without_choices_is_an_error(server: str) -> None:
    _Handler.mode = "empty"
    endpoint = ChatEndpoint.from_env({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": server})
    assert endpoint is not None
    with pytest.raises(LLMError, match=r"without choices\[0\]\.message\.content"):
        endpoint.complete([{"role": "user", "content": "x"}])


def test_an_unreachable_endpoint_says_to_check_the_base_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    endpoint = ChatEndpoint.from_env({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": url})
    assert endpoint is not None
    with pytest.raises(LLMError, match=r"Cannot reach .*Check OPENAI_BASE_URL"):
        endpoint.complete([{"role": "user", "content": "x"}])


def test_no_key_means_no_endpoint_and_defaults_apply_otherwise() -> None:
    assert ChatEndpoint.from_env({}) is None
    assert ChatEndpoint.from_env({"OPENAI_API_KEY": "  "}) is None
    endpoint = ChatEndpoint.from_env({"OPENAI_API_KEY": "k"})
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.model) == (DEFAULT_BASE_URL, DEFAULT_MODEL)
