"""train.workers: seeds and a pipeline's two models trained in worker processes give the runs of a serial run."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.config import ConfigError
from kecpm.train import TrainConfig
from kecpm.train.parallel import run_jobs, threads_per_worker
from tests.test_train import _splits


def _fail(x: int) -> int:
    if x == 2:
        raise ConfigError(f"job {x} failed")
    return x * 10


def test_jobs_return_in_order_and_a_failure_is_raised_in_the_caller():
    assert run_jobs([(_fail, (1,)), (_fail, (3,)), (_fail, (4,))], workers=2, threads=1) == [10, 30, 40]
    with pytest.raises(ConfigError, match="job 2 failed"):
        run_jobs([(_fail, (1,)), (_fail, (2,)), (_fail, (3,))], workers=2, threads=1)


def test_threads_are_an_equal_share_of_the_cores_unless_given():
    assert threads_per_worker(2, threads=3) == 3
    assert threads_per_worker(len(os.sched_getaffinity(0)) + 1) == 1
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        TrainConfig(workers=0)


@pytest.mark.slow
def test_a_pipeline_trained_by_two_workers_equals_the_serial_run(tmp_path):
    splits = _splits(tmp_path / "splits", seeds=(1, 2))
    common = ["train", "--splits-dir", str(splits), "--pipeline", "--epochs", "1", "--out", str(tmp_path / "runs"),
              "--threads", "1", "--batch-size", "4", "--set", "model.use_image=false"]
    for name, more in (("serial", []), ("parallel", ["--workers", "2"])):
        res = CliRunner().invoke(app, [*common, "--name", name, *more])
        assert res.exit_code == 0, res.output
    for seed in (1, 2):
        for part in ("entity/", "relation/", ""):
            serial, parallel = (tmp_path / "runs" / n / f"seed{seed}" / part for n in ("serial", "parallel"))
            assert (parallel / "predictions.jsonl").read_text() == (serial / "predictions.jsonl").read_text()
            a, b = (json.loads((d / "results.json").read_text()) for d in (serial, parallel))
            assert b["test"] == a["test"] and b["history"][0]["loss"] == a["history"][0]["loss"] > 0
    # the parallel run resumes like any run: a second call finds every seed done
    again = CliRunner().invoke(app, [*common, "--name", "parallel", "--workers", "2"])
    assert again.exit_code == 0 and "already done" in again.output + str(again.stderr_bytes or "")


def _touch(path: str) -> str:
    with open(path, "w") as fh:
        fh.write("done")
    return path


def _read_both(a: str, b: str) -> str:
    with open(a) as fa, open(b) as fb:
        return fa.read() + fb.read()


def test_a_job_runs_after_its_own_first_jobs(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    jobs = [(_read_both, (a, b)), (_fail, (1,)), (_read_both, (c, c))]
    before = [[(_touch, (a,)), (_touch, (b,))], [], [(_touch, (c,))]]
    assert run_jobs(jobs, workers=2, threads=1, before=before) == ["donedone", 10, "donedone"]
    with pytest.raises(ConfigError, match="job 2 failed"):  # a failed first job fails its job
        run_jobs([(_fail, (1,))], workers=2, threads=1, before=[[(_fail, (2,))]])
