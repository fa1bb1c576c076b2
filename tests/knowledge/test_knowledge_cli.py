"""CLI: gen-knowledge with the dummy backend, cache stats / clear, and a run killed midway."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from knowledge_helpers import write_split
from typer.testing import CliRunner

from kecpm.cli import app

runner = CliRunner()


def test_gen_knowledge_cli_and_cache_commands(tiny_split, tmp_path):
    cache = tmp_path / "cache"
    args = ["gen-knowledge", str(tiny_split), "--backend", "dummy", "-k", "0", "--cache-dir", str(cache), "--no-progress"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (tiny_split / "knowledge.jsonl").exists()
    r = runner.invoke(app, ["cache", "stats", "--cache-dir", str(cache)])
    assert r.exit_code == 0 and "dummy" in r.output and "24" in r.output, r.output
    r = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache)], input="n\n")
    assert r.exit_code == 1 and "nothing deleted" in r.output
    r = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cache), "--yes"])
    assert r.exit_code == 0 and "deleted 24" in r.output
    r = runner.invoke(app, ["gen-knowledge", str(tmp_path / "nope"), "--backend", "dummy"])
    assert r.exit_code == 1 and "not a folder" in r.output


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from kecpm.cli import main; main()", *args]


def test_killed_run_resumes_to_the_same_result(tmp_path):
    """SIGKILL a run midway; the rerun only generates what is missing and equals an unkilled run."""
    killed, clean = write_split(tmp_path / "killed", 8, 8, 8), write_split(tmp_path / "clean", 8, 8, 8)
    common = ["--backend", "dummy", "-k", "0", "--batch-size", "2", "--no-progress"]
    env = {**os.environ, "KECPM_CACHE": str(tmp_path / "cache-killed")}
    proc = subprocess.Popen(_cli("gen-knowledge", str(killed), *common, "--dummy-delay", "0.4"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = tmp_path / "cache-killed" / "knowledge.sqlite"
    deadline, n = time.monotonic() + 60, 0
    try:
        while time.monotonic() < deadline and n < 6:
            time.sleep(0.1)
            if db.exists():
                try:
                    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM answers").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert 6 <= n < 48, n
    assert not (killed / "knowledge.jsonl").exists()  # nothing written half
    rerun = subprocess.run(_cli("gen-knowledge", str(killed), *common), env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    hits = int(next(line for line in rerun.stderr.splitlines() if "cache hits" in line).split("│")[2])
    assert hits >= n
    env_clean = {**os.environ, "KECPM_CACHE": str(tmp_path / "cache-clean")}
    ok = subprocess.run(_cli("gen-knowledge", str(clean), *common), env=env_clean, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert Path(killed / "knowledge.jsonl").read_text() == Path(clean / "knowledge.jsonl").read_text()


def test_unreachable_endpoint_is_a_clear_error_and_nothing_written(tiny_split):
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = runner.invoke(app, ["gen-knowledge", str(tiny_split), "--backend", "openai", "--model", "m", "-k", "0",
                            "--base-url", f"http://127.0.0.1:{port}/v1", "--retries", "1", "--timeout", "2",
                            "--no-progress"], env={"OPENAI_API_KEY": "sk-secret-test"})
    assert r.exit_code == 1 and "cannot reach" in r.output and "2 attempt" in r.output, r.output
    assert "sk-secret-test" not in r.output
    assert not (tiny_split / "knowledge.jsonl").exists()


def test_several_split_folders_share_one_backend(tmp_path):
    a, b = write_split(tmp_path / "a", 4, 2, 2), write_split(tmp_path / "b", 4, 2, 2)
    r = runner.invoke(app, ["gen-knowledge", str(a), str(b), "--backend", "dummy", "-k", "0", "--no-progress",
                            "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    # same posts in both folders: the second folder is all cache hits
    assert (a / "knowledge.jsonl").read_text() == (b / "knowledge.jsonl").read_text()
    assert r.output.count("knowledge ->") == 2 and "│ cache hits              │ 16" in r.output
