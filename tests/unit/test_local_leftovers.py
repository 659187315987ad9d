"""No leftovers (issue 13, item 6): the temp files of local-store writes killed midway are
removed on the next open or write, a live writer's never, and nothing else ever.

Writers are real processes killed with SIGKILL; one is held inside its write (just
before the rename) so the test knows its temp file exists while it lives.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_featurestore.clients import local_files
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.clients.local_files import LEFTOVER_AGE_SECONDS, remove_leftovers

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL and pid probes are POSIX")

CORE = str(Path(local_files.__file__).resolve().parents[2])

WRITER = """
import os, sys, time
from llm_featurestore.clients.local import LocalFeatureStore

path, mode, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = LocalFeatureStore(path)
if mode == "hold":  # stop inside the write, its temp file complete, before the rename
    def hold(src, dst):
        print(src, flush=True)
        time.sleep(600)
    os.replace = hold
    store.write_features("u1", "user", {"n": start, "pad": "x" * 20_000})
else:  # write as fast as it can, saying which value each write stored
    n = start
    while True:
        store.write_features("u1", "user", {"n": n, "pad": "x" * 20_000})
        print(n, flush=True)
        n += 1
"""


def _writer(path: Path, mode: str, start: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([CORE, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), mode, str(start)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()  # reaped: its pid no longer runs
    assert process.stdout is not None
    process.stdout.close()


def _temps(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def _stored(path: Path) -> int:
    vector = LocalFeatureStore(path).get_features("u1", "user", ["n"])
    return int(vector.features["n"])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "features.json"
    LocalFeatureStore(path).write_features("u1", "user", {"n": 0, "pad": ""})
    return path


def test_a_killed_writer_leaves_nothing_after_the_next_open_and_a_live_ones_file_stays(
    data: Path,
) -> None:
    for round_ in (1, 2):
        writer = _writer(data, "hold", round_)
        assert writer.stdout is not None
        temp = Path(writer.stdout.readline().strip())
        assert _temps(data) == [temp]
        assert f"-{writer.pid}." in temp.name  # the writer's pid is in the name
        # Opened while the writer lives: its temp file is kept (and not read as data).
        assert _stored(data) == 0
        assert _temps(data) == [temp]
        _kill(writer)
        assert _temps(data) == [temp]  # killed mid-write: a leftover
        assert _stored(data) == 0  # the next open: the data is the last complete write...
        assert _temps(data) == []  # ...and the leftover is gone
    assert json.loads(data.read_text(encoding="utf-8"))["version"] == 1


def test_the_next_write_removes_leftovers_too(data: Path) -> None:
    store = LocalFeatureStore(data)  # open before the crash
    writer = _writer(data, "hold", 1)
    assert writer.stdout is not None
    temp = Path(writer.stdout.readline().strip())
    _kill(writer)
    assert _temps(data) == [temp]
    store.write_features("u1", "user", {"n": 2})
    assert _temps(data) == []
    assert _stored(data) == 2


def test_writers_killed_at_random_points_leave_intact_data_and_no_temp_file(
    data: Path,
) -> None:
    rng = random.Random(13)
    last = 0
    for round_ in range(3):
        start = 1000 * (round_ + 1)
        writer = _writer(data, "loop", start)
        assert writer.stdout is not None
        done = [int(writer.stdout.readline()) for _ in range(rng.randint(1, 4))]
        time.sleep(rng.random() / 100)  # anywhere in the next write
        _kill(writer)
        stored = _stored(data)  # the file parses and holds a complete write
        assert done[-1] <= stored < start + 1000  # this writer's last complete write
        assert stored > last
        assert _temps(data) == []
        last = stored


def test_only_the_stores_own_temp_names_are_ever_removed(tmp_path: Path) -> None:
    data = tmp_path / "features.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = local_files._machine()
    old = time.time() - LEFTOVER_AGE_SECONDS - 60
    files = {  # name: (what it is, made old, removed)
        # The store's own names:
        f".features.json.{me}-{dead.pid}.abcd1234.tmp": ("a dead writer's, here", False, True),
        f".features.json.{me}-{os.getpid()}.abcd1234.tmp": ("a live writer's", False, False),
        ".features.json.otherhost-1.abcd1234.tmp": ("another machine's, recent", False, False),
        ".features.json.otherhost-2.abcd1234.tmp": ("another machine's, old", True, True),
        ".features.json.k3j9_x2q.tmp": ("an earlier version's, recent", False, False),
        ".features.json.k3j9_x2r.tmp": ("an earlier version's, old", True, True),
        # Anything else, however old:
        "features.json.bak": ("a backup", True, False),
        ".features.json.tmp": ("no random part", True, False),
        ".other.json.abcd1234.tmp": ("another data file's", True, False),
        f".features.json.{me}-{dead.pid}.abcd1234.tmp.keep": ("a longer name", True, False),
        "notes.txt": ("a user's file", True, False),
    }
    for name, (_, aged, _) in files.items():
        (tmp_path / name).write_text("x", encoding="utf-8")
        if aged:
            os.utime(tmp_path / name, (old, old))
    removed = {p.name for p in remove_leftovers(data)}
    expected = {name for name, (_, _, gone) in files.items() if gone}
    assert removed == expected, sorted(files[n][0] for n in removed ^ expected)
    assert remove_leftovers(data) == []
    assert remove_leftovers(tmp_path / "missing" / "features.json") == []
