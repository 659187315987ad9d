"""Interpreter exit flushes every open write-back writer (a real subprocess that never
calls close), and gives up after the writer's exit timeout when the store is dead."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llm_featurestore.clients.local import LocalFeatureStore
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

FLUSHED = """
import sys, time
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.writeback import Turn, WriteBack

store = LocalFeatureStore(sys.argv[1])
store.write_features("u1", "user", {"tier": "gold"})
wb = WriteBack(store, last_query="last_query", turn_count="turns")
wb.writer.submit(lambda: time.sleep(0.3))  # the turns are still queued when the script ends
for i in range(20):
    wb.submit(Turn({"user": "u1"}, f"question {i}"))
print("pending", wb.writer.pending)
"""

DEAD = """
import sys
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.writeback import Turn, WriteBack

store = RedisFeatureStore(f"redis://127.0.0.1:{sys.argv[1]}/0", socket_timeout_s=0.2, retries=0)
wb = WriteBack(
    store,
    last_query="last_query",
    turn_count="turns",
    writer={"exit_timeout_s": 0.5, "backoff_s": 30.0, "max_backoff_s": 30.0},
)
for i in range(3):
    wb.submit(Turn({"user": "u1"}, f"question {i}"))
print("submitted")
"""


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_exit_flushes_the_queued_turns(tmp_path: Path) -> None:
    path = tmp_path / "features.json"
    done = run(FLUSHED, str(path))
    pending = int(done.stdout.split()[1])
    assert pending > 1  # the script ended with turns still queued
    got = LocalFeatureStore(path).get_features("u1", "user", ["last_query", "turns"]).features
    assert got == {"last_query": "question 19", "turns": 20}


def test_exit_gives_up_after_the_exit_timeout_when_the_store_is_dead() -> None:
    done = run(DEAD, str(free_port()))
    assert done.stdout.strip() == "submitted"
    # The first turn waits in a 30 s backoff; exit waited 0.5 s, then dropped the rest.
    assert "Write-back writer 'llmfs-writeback' closed with 2 job(s) unwritten" in done.stderr
