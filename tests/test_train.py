"""`kecpm train` end to end on tiny data, resume after a kill, determinism, the summary table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.data.jsonl import read_jsonl, write_jsonl
from kecpm.data.schema import schema_from_posts
from kecpm.model.config import ModelConfig
from kecpm.model.folder import read_heads
from kecpm.model.model import PromptModel
from kecpm.train import TrainConfig, Trainer

TINY = Path(__file__).parent / "model" / "tiny_posts.jsonl"


def _splits(root: Path, seeds=(1,)) -> Path:
    posts = read_jsonl(TINY)
    for s in seeds:
        write_jsonl(root / f"seed{s}" / "train.jsonl", posts[:6])
        write_jsonl(root / f"seed{s}" / "val.jsonl", posts[5:])
        write_jsonl(root / f"seed{s}" / "test.jsonl", posts[4:])
    return root


@pytest.mark.slow
def test_train_cli_writes_all_artefacts(tmp_path):
    splits = _splits(tmp_path / "splits", seeds=(1,))
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(splits), "--epochs", "2", "--out",
                                   str(tmp_path / "runs"), "--name", "t", "--threads", "1", "--batch-size", "4"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / "t"
    for s in (1,):
        d = run / f"seed{s}"
        assert {"results.json", "predictions.jsonl", "config.json", "model"} <= {p.name for p in d.iterdir()}
        assert not (d / "checkpoint.pt").exists()
        rec = json.loads((d / "results.json").read_text())
        assert rec["epochs_run"] == 2 and len(rec["history"]) == 2
        assert set(rec["test"]) == {"entity_f1", "rel_strict_f1", "rel_boundary_f1", "macro_f1", "entity_rel_f1"}
        assert len(read_jsonl(d / "predictions.jsonl")) == 4
        assert (d / "model" / "heads.safetensors").exists()
        assert "## Test scores (F1, percent)" in (d / "model" / "README.md").read_text()  # the card, after scoring
    rows = list(csv.reader((run / "summary.csv").open()))
    assert [r[0] for r in rows] == ["seed", "1", "mean", "std"]
    assert "rel-strict" in res.output


@pytest.mark.slow
def test_train_pipeline_writes_both_models_and_resumes(tmp_path):
    """--pipeline: an entity run and a relation run per seed, the pipeline folder over their models, scored
    as JMERE; a second call skips everything; the folder predicts with `kecpm predict`."""
    splits = _splits(tmp_path / "splits", seeds=(1,))
    cmd = ["train", "--splits-dir", str(splits), "--pipeline", "--epochs", "1", "--out", str(tmp_path / "runs"),
           "--name", "p", "--threads", "1", "--batch-size", "4", "--set", "model.use_image=false",
           "--set", "model.pair_sentences=true", "--set", "model.span_sentences=true"]
    res = CliRunner().invoke(app, cmd)
    assert res.exit_code == 0, res.output
    d = tmp_path / "runs" / "p" / "seed1"
    ent, rel = (json.loads((d / part / "results.json").read_text()) for part in ("entity", "relation"))
    assert (ent["task"], rel["task"]) == ("mner", "mre")
    # an option only one head reads is left out of the other model (pipelines differing in it share that model)
    configs = [json.loads((d / part / "config.json").read_text())["model"] for part in ("entity", "relation")]
    assert [(c["pair_sentences"], c["span_sentences"]) for c in configs] == [(False, True), (True, False)]
    assert "| rel-strict F1 |" in (d / "model" / "README.md").read_text()  # the pipeline's card, with its scores
    rec = json.loads((d / "results.json").read_text())
    assert rec["task"] == "jmere" and rec["pipeline"]["entity"]["test"] == ent["test"]
    assert {"entity_span_sentence_gate", "sentence_gate"} <= rec["gate_openness"].keys()  # both models' gates
    assert json.loads((d / "config.json").read_text())["model"]["pipeline"] is True
    assert json.loads((d / "model" / "pipeline.json").read_text())["entity"] == "../entity/model"
    before = (d / "predictions.jsonl").read_text()
    again = CliRunner().invoke(app, cmd)
    assert again.exit_code == 0 and "already done" in again.output + str(again.stderr_bytes or "")
    assert (d / "predictions.jsonl").read_text() == before
    out = tmp_path / "pred.jsonl"
    res = CliRunner().invoke(app, ["predict", str(d / "model"), str(splits / "seed1" / "test.jsonl"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert read_jsonl(out) == read_jsonl(d / "predictions.jsonl")


def _trainer(out: Path | None, epochs: int) -> Trainer:
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False))
    args = TrainConfig(epochs=epochs, batch_size=4, seed=3, threads=1, patience=0, progress=False)
    return Trainer(model, args, posts[:6], posts[6:], out_dir=out)


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(tmp_path, monkeypatch):
    full = _trainer(None, 2).train()
    killed = _trainer(tmp_path / "killed", 2)
    real_epoch = killed._epoch

    def dies_in_epoch_2(epoch: int) -> float:
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(epoch)

    monkeypatch.setattr(killed, "_epoch", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert (tmp_path / "killed" / "checkpoint.pt").exists()
    resumed = _trainer(tmp_path / "killed", 2).train()
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]
    assert resumed["best_score"] == full["best_score"]


def test_same_seed_same_result(tmp_path):
    a = _trainer(None, 1).train()
    b = _trainer(None, 1).train()
    assert a["history"][0]["loss"] == b["history"][0]["loss"]


def test_missing_seed_folder_is_a_clear_error(tmp_path):
    splits = _splits(tmp_path / "splits")
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(splits), "--seeds", "5"])
    assert res.exit_code == 1
    assert "no folder for seed(s) 5" in res.output


@pytest.mark.slow
@pytest.mark.realdata
def test_train_on_a_few_real_posts_of_the_paper_splits(shared_data, tmp_path):
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(shared_data / "fs-jmere"), "--seeds", "17",
                                   "--limit", "8", "--epochs", "2", "--threads", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    d = tmp_path / "fs-jmere" / "seed17"
    rec = json.loads((d / "results.json").read_text())
    assert rec["n_train"] == 8 and rec["n_test"] == 8 and rec["epochs_run"] == 2
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["model"]["use_knowledge"] and cfg["model"]["relations"]
    # the paper's posts carry captions and ChatGPT knowledge: the fusion gate must have moved off 0
    heads, _ = read_heads(d / "model")
    assert float(heads["encoder.fusion.gate"].abs().max()) > 0


def test_summary_is_mean_and_std_over_seeds(tmp_path):
    from kecpm.results import summary_table, write_results, write_summary

    for seed, f1 in ((1, 0.2), (2, 0.3), (3, 0.4)):
        test = {"entity_f1": 0.5, "rel_strict_f1": f1, "rel_boundary_f1": f1, "macro_f1": 0.1}
        write_results(tmp_path / f"seed{seed}" / "results.json", {"seed": seed, "test": test})
    rows = list(csv.reader(write_summary(tmp_path).open()))
    assert rows[4][:3] == ["mean", "50.00", "30.00"] and rows[5][2] == "10.00"
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(summary_table(tmp_path))
    assert "30.0 ± 10.0" in console.export_text()


def test_results_record_the_library_versions(tmp_path):
    from kecpm import __version__
    from kecpm.results import write_results

    write_results(tmp_path / "results.json", {"seed": 1})
    versions = json.loads((tmp_path / "results.json").read_text())["versions"]
    assert versions["kecpm"] == __version__ and versions["torch"] == torch.__version__
    assert set(versions) == {"kecpm", "torch", "transformers", "tokenizers", "numpy"} and all(versions.values())
    write_results(tmp_path / "again.json", {"seed": 1, "versions": {"torch": "given"}})  # a record's own wins
    assert json.loads((tmp_path / "again.json").read_text())["versions"] == {"torch": "given"}


def test_fusion_gate_has_its_own_learning_rate_and_no_weight_decay():
    posts = read_jsonl(TINY)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=True))
    fusion, reader = model.encoder.fusion, model.heads["relation"].reader
    assert fusion.gate.shape == (model.encoder.hidden,)
    args = TrainConfig(epochs=1, lr_gate=0.03, weight_decay=0.1, progress=False)
    trainer = Trainer(model, args, posts[:6], posts[6:])
    [group] = [g for g in trainer.optimizer.param_groups if any(p is fusion.gate for p in g["params"])]
    gates = {id(fusion.gate), id(reader.gate)}
    assert {id(p) for p in group["params"]} == gates and group["weight_decay"] == 0.0
    assert group["initial_lr"] == 0.03


def test_trainer_selects_on_the_metric_it_is_given():
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False))
    args = TrainConfig(epochs=1, batch_size=4, seed=3, threads=1, progress=False, tune_thresholds=False)
    state = Trainer(model, args, posts[:6], posts[6:], metric="entity_f1").train()
    assert state["metric"] == "entity_f1"
    assert state["best_score"] == state["history"][0]["entity_f1"]
    with pytest.raises(Exception, match="metric"):
        TrainConfig(metric="accuracy")


def test_entity_rel_metric_is_the_mean_of_entity_and_rel_strict_f1():
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False))
    args = TrainConfig(epochs=1, batch_size=4, seed=3, threads=1, progress=False, metric="entity_rel_f1")
    state = Trainer(model, args, posts[:6], posts[6:]).train()
    [h] = state["history"]
    assert state["metric"] == "entity_rel_f1"
    assert h["entity_rel_f1"] == pytest.approx((h["entity_f1"] + h["rel_strict_f1"]) / 2)
    assert state["best_score"] == h["entity_rel_f1"]


@pytest.mark.slow
def test_train_config_file_reruns_an_earlier_run_and_flags_win(tmp_path):
    splits = _splits(tmp_path / "splits")
    base = ["train", "--splits-dir", str(splits), "--out", str(tmp_path / "runs"), "--threads", "1"]
    res = CliRunner().invoke(app, [*base, "--name", "a", "--epochs", "1", "--set", "model.soft_prompt_tokens=3",
                                   "--set", "train.batch_size=4"])
    assert res.exit_code == 0, res.output
    saved = tmp_path / "runs" / "a" / "seed1" / "config.json"
    assert json.loads(saved.read_text())["run"]["seed"] == 1
    res = CliRunner().invoke(app, [*base, "--name", "b", "--config", str(saved), "--epochs", "2"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "runs" / "b" / "seed1" / "config.json").read_text())
    assert cfg["model"]["soft_prompt_tokens"] == 3 and cfg["train"]["batch_size"] == 4  # from the file
    assert cfg["train"]["epochs"] == 2  # the flag wins over the file


@pytest.mark.parametrize("item, message", [("model.max_span_width=abc", "max_span_width: expected int"),
                                           ("train.epochs=null", "epochs: expected int"),
                                           ("model.task=ner", "task: 'ner' is not one of"),
                                           ("train.device=gpu", "device: 'gpu' is not one of")])
def test_bad_option_values_are_one_clear_line(tmp_path, item, message):
    splits = _splits(tmp_path / "splits")
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(splits), "--set", item])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_progress_bars_are_quiet_outside_a_terminal(capsys):
    from kecpm.progress import progress

    bar = progress(range(3), enabled=True, desc="x")
    assert bar.disable  # pytest's captured stderr is not a terminal
    list(bar)
    assert "x" not in capsys.readouterr().err


def test_cuda_asked_for_without_a_gpu_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    splits = _splits(tmp_path / "splits")
    res = CliRunner().invoke(app, ["train", "--splits-dir", str(splits), "--device", "cuda", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "no CUDA device" in res.output
    assert not (tmp_path / "splits" / "seed1" / "config.json").exists()


def test_head_only_epochs_keep_the_encoder_then_train_it():
    posts = read_jsonl(TINY)
    torch.manual_seed(3)
    model = PromptModel.create(ModelConfig(**schema_from_posts(posts), soft_prompt_tokens=2, use_image=False))
    args = TrainConfig(epochs=2, batch_size=4, seed=3, threads=1, patience=0, progress=False, head_only_epochs=1,
                       tune_thresholds=False)
    trainer = Trainer(model, args, posts[:6], posts[6:])
    enc = dict(model.encoder.text.named_parameters())
    name = next(n for n in enc if "embeddings" in n)
    head = next(p for p in model.heads.parameters())
    before, head_before = enc[name].detach().clone(), head.detach().clone()
    trainer._epoch(1)
    assert torch.equal(enc[name], before) and not torch.equal(head, head_before)
    assert all(p.requires_grad for p in enc.values())
    trainer._epoch(2)
    assert not torch.equal(enc[name], before)


def test_head_only_epochs_must_leave_epochs_to_fine_tune():
    with pytest.raises(ValueError, match="head_only_epochs"):
        TrainConfig(epochs=3, head_only_epochs=3)


def test_a_finished_run_is_not_reused_for_other_options(tmp_path):
    """Same run name, another learning option: a clear error, not the old run's scores."""
    from kecpm.config import ConfigError
    from kecpm.train.run import train_seed

    posts = read_jsonl(TINY)
    model = ModelConfig(soft_prompt_tokens=2, use_image=False, use_knowledge=False)
    args = TrainConfig(epochs=1, batch_size=4, threads=1, progress=False, tune_thresholds=False)
    first = train_seed(posts[:6], posts[5:], posts[4:], model, args, tmp_path / "run")
    again = train_seed(posts[:6], posts[5:], posts[4:], model, args.replace(threads=2), tmp_path / "run")
    assert again == first  # only where it runs changed: the finished run is reused
    with pytest.raises(ConfigError, match="word_shapes"):
        train_seed(posts[:6], posts[5:], posts[4:], model.replace(word_shapes=False), args, tmp_path / "run")


def test_experts_without_retrieval_is_a_config_error():
    from kecpm.config import ConfigError

    with pytest.raises(ConfigError, match="retrieval"):
        ModelConfig(experts="text")
