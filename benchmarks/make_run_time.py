"""`make_run.seconds`: a fresh checkout to the first prediction on a user's text file.

Clones this repository (its last commit) into a temporary folder beside this one (so ``../shared``
resolves the same), links the installed ``.venv`` into it (installing is measured apart: about 3
minutes, README), points ``KECPM_CACHE`` at an empty folder (no cached knowledge, entity model or
converted LLM), then times ``make run`` and one ``kecpm predict MODEL posts.txt --knowledge auto``
on a two-line text file. Prints each step's time (from make run's "== step (Ns)" lines) and records
the total in benchmarks/headline.json. Run it on an idle machine; it takes about 15 minutes.

    python benchmarks/make_run_time.py                       # measure and record
    python benchmarks/make_run_time.py --from-log LOG        # record from the log of an earlier measurement
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from headline import record, stamp

ROOT = Path(__file__).resolve().parents[1]
POSTS = "Elon Musk, the CEO of Tesla, met @JoeBiden in Washington yesterday.\nLionel Messi scores again for Inter Miami #MLS\n"
STEP = re.compile(r"^== (.+) \((\d+)s\)$", re.M)
TIMES = re.compile(r"^TIMES make_run=([\d.]+) predict=([\d.]+)$", re.M)
COMMIT = re.compile(r"^COMMIT (\w+)$", re.M)  # the commit measured (the clone's), not this checkout's HEAD
CPU = re.compile(r"^CPU (.+)$", re.M)


def cpu() -> str:
    """This machine's CPU as the figure depends on it: model, cores, and whether it has AVX-512 (vLLM's
    bfloat16 on a CPU needs it; without it stage 1 runs in float32)."""
    info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace") if Path("/proc/cpuinfo").exists() else ""
    name = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
    simd = "AVX-512" if flags and "avx512f" in flags.group(1).split() else "AVX2 (no AVX-512)"
    return f"{name.group(1).strip() if name else 'unknown CPU'}, {os.cpu_count()} cores, {simd}"


def measure(log: Path) -> None:
    """Run the fresh checkout's make run and first prediction, writing everything to ``log``."""
    work = Path(tempfile.mkdtemp(prefix="kecpm-fresh-", dir=ROOT.parent))
    clone, cache = work / "kecpm", work / "cache"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env = {**os.environ, "KECPM_CACHE": str(cache), "PYTHONPATH": str(clone), "KECPM_DATA": str(ROOT.parent / "shared" / "data")}
    (work / "posts.txt").write_text(POSTS, encoding="utf-8")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout.strip()
    with log.open("w", encoding="utf-8") as out:
        out.write(f"COMMIT {commit}\nCPU {cpu()}\n")
        out.flush()
        t0 = time.perf_counter()
        subprocess.run(["make", "run"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
        t1 = time.perf_counter()
        with (work / "predictions.jsonl").open("w") as pred:
            subprocess.run([str(clone / ".venv" / "bin" / "kecpm"), "predict", "runs/mnre-K5/seed17/model",
                            str(work / "posts.txt"), "--knowledge", "auto"], cwd=clone, env=env, stdout=pred,
                           stderr=out, check=True)
        t2 = time.perf_counter()
        out.write(f"TIMES make_run={t1 - t0:.1f} predict={t2 - t1:.1f}\n")
    shutil.copy(clone / "runs" / "mnre-K5" / "summary.csv", log.with_name("summary.csv"))
    shutil.rmtree(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-log", type=Path, default=None, help="record from this earlier measurement's log")
    ap.add_argument("--log", type=Path, default=ROOT / "runs" / "make-run-time" / "make_run.log")
    args = ap.parse_args()
    log = args.from_log
    if log is None:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        measure(args.log)
        log = args.log
    text = log.read_text(encoding="utf-8", errors="replace")
    times = TIMES.search(text)
    if times is None:
        sys.exit(f"{log}: no TIMES line (the measurement did not finish)")
    make_run, predict = (float(x) for x in times.groups())
    steps = [(name, int(s)) for name, s in STEP.findall(text)]
    for (name, s), (_, nxt) in zip(steps, [*steps[1:], ("end", round(make_run))], strict=True):
        print(f"{nxt - s:5d} s  {name}")
    print(f"make run {make_run:.0f} s + first prediction {predict:.0f} s = {make_run + predict:.0f} s")
    provenance = stamp("python benchmarks/make_run_time.py", "fresh clone, empty KECPM_CACHE, "
                       "venv installed; make run then kecpm predict MODEL posts.txt --knowledge auto")
    measured = COMMIT.search(text)
    if measured:
        provenance["commit"] = measured.group(1)
    where = CPU.search(text)
    if where:
        provenance["cpu"] = where.group(1)
    record("make_run.seconds", {"value": round(make_run + predict), "unit": "s", "make_run_s": round(make_run),
                                "first_predict_s": round(predict), "log": str(log), **provenance})


if __name__ == "__main__":
    main()
