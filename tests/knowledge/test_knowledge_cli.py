"""CLI: gen-knowledge with the dummy backend (flags, --set, --config), cache stats / clear, a run killed midway."""

from __future__ import annotations

import json
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
    args = ["gen-knowledge", str(tiny_split), "--backend", "dummy", "--n-demos", "0", "--cache-dir", str(cache), "--no-progress"]
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
    common = ["--backend", "dummy", "--n-demos", "0", "--set", "knowledge.batch_size=2", "--no-progress"]
    env = {**os.environ, "KECPM_CACHE": str(tmp_path / "cache-killed")}
    proc = subprocess.Popen(_cli("gen-knowledge", str(killed), *common, "--set", "backend.delay=0.4"), env=env,
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
    r = runner.invoke(app, ["gen-knowledge", str(tiny_split), "--backend", "openai", "--model", "m", "--n-demos", "0",
                            "--set", f"backend.base_url=http://127.0.0.1:{port}/v1", "--set", "backend.retries=1",
                            "--set", "backend.timeout=2", "--no-progress"], env={"OPENAI_API_KEY": "sk-secret-test"})
    assert r.exit_code == 1 and "cannot reach" in r.output and "2 attempt" in r.output, r.output
    assert "sk-secret-test" not in r.output
    assert not (tiny_split / "knowledge.jsonl").exists()


def test_several_split_folders_share_one_backend(tmp_path):
    a, b = write_split(tmp_path / "a", 4, 2, 2), write_split(tmp_path / "b", 4, 2, 2)
    r = runner.invoke(app, ["gen-knowledge", str(a), str(b), "--backend", "dummy", "--n-demos", "0", "--no-progress",
                            "--cache-dir", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    # same posts in both folders: the second folder is all cache hits
    assert (a / "knowledge.jsonl").read_text() == (b / "knowledge.jsonl").read_text()
    assert r.output.count("knowledge ->") == 2 and "│ cache hits              │ 16" in r.output


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_saved_config_reruns_the_same_and_flags_win(tiny_split, tmp_path):
    cache = ["--cache-dir", str(tmp_path / "c"), "--no-progress"]
    r = runner.invoke(app, ["gen-knowledge", str(tiny_split), "--backend", "dummy", "--n-demos", "0", "--no-reflect",
                            "--set", "knowledge.max_sentences=3", "--set", "backend.bad_every=5", *cache])
    assert r.exit_code == 0, r.output
    saved = tiny_split / "knowledge.config.json"
    data = json.loads(saved.read_text())
    assert set(data) == {"knowledge", "backend"} and data["backend"] == {"delay": 0.0, "bad_every": 5}
    assert (data["knowledge"]["backend"], data["knowledge"]["k"], data["knowledge"]["max_sentences"],
            data["knowledge"]["reflect"]) == ("dummy", 0, 3, False)
    again = tmp_path / "again.jsonl"
    r = runner.invoke(app, ["gen-knowledge", str(tiny_split), "--config", str(saved), "-o", str(again), *cache])
    assert r.exit_code == 0, r.output
    assert "│ cache hits              │ 12" in r.output and "│ model calls             │ 0" in r.output, r.output
    assert again.read_text() == (tiny_split / "knowledge.jsonl").read_text()
    assert json.loads((tmp_path / "again.config.json").read_text()) == data  # --no-reflect kept: not given = None
    r = runner.invoke(app, ["gen-knowledge", str(tiny_split), "--config", str(saved), "-o", str(again), "--reflect",
                            "--set", "knowledge.max_sentences=2", *cache])
    assert r.exit_code == 0, r.output
    knowledge = json.loads((tmp_path / "again.config.json").read_text())["knowledge"]
    assert knowledge["reflect"] is True and knowledge["max_sentences"] == 2 and knowledge["k"] == 0
    recs = _records(again)
    assert any(r["reflected"] is not None for r in recs) and all(len(r["knowledge"]) <= 2 for r in recs)


def test_backend_options_are_checked_against_the_chosen_backend(tiny_split, tmp_path):
    base = ["gen-knowledge", str(tiny_split), "--cache-dir", str(tmp_path / "c"), "--no-progress", "--n-demos", "0"]
    r = runner.invoke(app, [*base, "--backend", "dummy", "--set", "backend.max_model_len=4096"])
    assert r.exit_code == 1, r.output
    assert "backend 'dummy' has no option max_model_len; its options: delay, bad_every" in r.output
    r = runner.invoke(app, [*base, "--backend", "vllm", "--set", "backend.memory=2"])
    assert r.exit_code == 1 and "memory must be in (0, 1]" in r.output, r.output
    r = runner.invoke(app, [*base, "--backend", "nope"])
    assert r.exit_code == 1 and "'nope' is not one of auto, vllm, transformers, openai, dummy" in r.output, r.output
    r = runner.invoke(app, [*base, "--backend", "dummy", "--set", "knowledge.k=two"])
    assert r.exit_code == 1 and "KnowledgeConfig.k: expected int" in r.output, r.output
    # a config file's backend section belongs to its backend: another backend ignores it
    other = tmp_path / "vllm.config.json"
    other.write_text(json.dumps({"knowledge": {"backend": "vllm", "k": 0}, "backend": {"json_mode": "prefix"}}))
    r = runner.invoke(app, [*base, "--config", str(other), "--backend", "dummy", "--set", "backend.delay=0"])
    assert r.exit_code == 0, r.output
    assert json.loads((tiny_split / "knowledge.config.json").read_text())["backend"] == {"delay": 0.0, "bad_every": 0}


def test_help_lists_every_backend_option():
    r = runner.invoke(app, ["gen-knowledge", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for name in ("json_mode", "max_model_len", "memory", "dtype", "threads", "base_url", "api_key_env", "concurrency",
                 "timeout", "retries", "delay", "bad_every"):
        assert f"{name}=" in r.output, name


def test_registry_imports_no_heavy_package():
    code = ("import sys; import kecpm.cli; from kecpm.knowledge.backends import REGISTRY, backend_options, options_help; "
            "[backend_options(n) for n in REGISTRY]; options_help(); "
            "heavy = [m for m in ('vllm', 'torch', 'transformers', 'httpx') if m in sys.modules]; "
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_gen_knowledge_reads_text_posts_like_predict(tmp_path):
    """`-i` takes what `predict` takes: JSONL lines with "text", plain text files, stdin; the ids match predict's."""
    from kecpm.data.inputs import read_inputs

    lines = tmp_path / "posts.jsonl"
    lines.write_text('{"text": "Obama visits Paris, France!"}\n{"text": "Messi joins @PSG"}\n')
    plain = tmp_path / "posts.txt"
    plain.write_text("Obama visits Paris, France!\nMessi joins @PSG\n")
    common = ["--backend", "dummy", "--n-demos", "0", "--no-reflect", "--no-progress", "--cache-dir", str(tmp_path / "c")]
    outs = []
    for name, args, stdin in (("a", ["-i", str(lines)], None), ("b", ["-i", str(plain)], None),
                              ("c", ["-i", "-"], plain.read_text())):
        out = tmp_path / f"{name}.jsonl"
        r = runner.invoke(app, ["gen-knowledge", *args, "-o", str(out), *common], input=stdin)
        assert r.exit_code == 0, r.output
        outs.append(_records(out))
    assert outs[0] == outs[1] == outs[2]
    assert [r["id"] for r in outs[0]] == [p.id for p in read_inputs(plain).posts]
    assert outs[0][0]["knowledge"][:3] == ["Obama is mentioned in the post.", "Paris is mentioned in the post.",
                                           "France is mentioned in the post."]
