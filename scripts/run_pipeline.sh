#!/usr/bin/env bash
# The main job, end to end on the real data: K-shot splits, LLM knowledge, training, evaluation, report.
# Knobs (environment): KECPM_DATA (../shared/data), KECPM_SHOTS (5), KECPM_SEEDS ("17 67 97"),
# KECPM_BACKEND (auto: vllm if installed; "import" takes the paper's knowledge with import-knowledge instead),
# KECPM_LLM (smollm2), KECPM_EPOCHS, KECPM_MAX_MINUTES (5, per seed), KECPM_RUNS (runs),
# KECPM_WORKERS (2: models trained side by side, train.workers), KECPM_PIPELINE (1: an entity model and a relation model per seed, each with its own encoder, model.pipeline;
# 0: one joint model), KECPM_REL_NEGATIVES (joint model only; 2: the relation head also trains on spans the span
# head wrongly takes for entities, model.relation_negatives, measured at K=5; 0: gold entities only), KECPM_WARM_START (1: start from the entity model of `kecpm pretrain-entities`, trained once on the public
# Twitter-2015/2017 NER data and cached; 0: start from the plain encoder), KECPM_PRETRAIN_EPOCHS (1; the
# benchmarks' entity model has 3), KECPM_PRETRAIN_DATA (twitter2015,twitter2017; Twitter-2017 alone measured -4 rel-strict), KECPM_JSON_MODE (grammar; prefix, the
# answer's JSON started for the model instead, measured -2.5 rel-strict in make run and no faster beside the entity model), KECPM_DEMOS (0 demonstrations: a test post's prompt is then the same for every
# seed and generated once), KECPM_REFLECT (0: no self-reflection pass). The last three keep a fresh run near
# 20 minutes on a 2-core CPU; KECPM_PRETRAIN_EPOCHS=3 KECPM_DEMOS=2 KECPM_REFLECT=1 is the paper's full stage 1.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-2}
KECPM=${KECPM:-.venv/bin/kecpm}
DATA=${KECPM_DATA:-../shared/data}
K=${KECPM_SHOTS:-5}
SEEDS=${KECPM_SEEDS:-17 67 97}
BACKEND=${KECPM_BACKEND:-auto}
LLM=${KECPM_LLM:-smollm2}
RUNS=${KECPM_RUNS:-runs}
MAXMIN=${KECPM_MAX_MINUTES:-5}
WARM=${KECPM_WARM_START:-1}
NEG=${KECPM_REL_NEGATIVES:-2}
PIPE=${KECPM_PIPELINE:-1}
WORKERS=${KECPM_WORKERS:-2}
if [ "$PIPE" = 1 ]; then how=(--pipeline); what="an entity model and a relation model per seed (KECPM_PIPELINE=1)"
else how=(--set model.relation_negatives="$NEG"); what="one joint model per seed, relation head trained with $NEG wrong-entity spans per post (KECPM_PIPELINE=0, KECPM_REL_NEGATIVES)"; fi
PRE_EPOCHS=${KECPM_PRETRAIN_EPOCHS:-1}
PRE_DATA=${KECPM_PRETRAIN_DATA:-twitter2015,twitter2017}
JSON_MODE=${KECPM_JSON_MODE:-grammar}
DEMOS=${KECPM_DEMOS:-0}
REFLECT=--no-reflect; [ "${KECPM_REFLECT:-0}" = 1 ] && REFLECT=--reflect
SPLITS=fewshot_splits/mnre/K$K
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))" >&2; }

step "1/6 K=$K splits from $DATA/mnre, seeds $SEEDS"
"$KECPM" build-splits --k "$K" --seeds "$SEEDS" --data "$DATA/mnre" -q
if [ "$K" = 5 ] && [ "$SEEDS" = "17 67 97" ]; then "$KECPM" build-splits --k 5 --data "$DATA/mnre" --check -q; fi

dirs=(); for s in $SEEDS; do dirs+=("$SPLITS/seed$s"); done
warm=(); start_from="the plain encoder (KECPM_WARM_START=0)"; pre_pid=
if [ "$WARM" = 1 ]; then
  step "2/6 entity model from the NER train set of $PRE_DATA ($PRE_EPOCHS epochs, 1 thread; cached, a rerun is free), in the background beside step 3"
  # a warm start needs neither the Twitter test scores nor the model's own thresholds; batches of similar
  # length make the epoch about 15 % faster (the benchmarks' entity model has none of these three settings).
  # It trains on one core while the LLM writes the knowledge on the other (OMP_NUM_THREADS=1 below: two
  # threads each would fight over the two cores), so the two steps overlap.
  init_file=$(mktemp); trap 'rm -f "$init_file"; [ -z "$pre_pid" ] || kill "$pre_pid" 2>/dev/null || true' EXIT
  "$KECPM" pretrain-entities --data "$PRE_DATA" --data-dir "$DATA" --epochs "$PRE_EPOCHS" --no-score-test --threads 1 \
    --set train.tune_thresholds=false --set train.group_by_length=true > "$init_file" &
  pre_pid=$!
else
  step "2/6 no entity model (KECPM_WARM_START=0)"
fi

if [ "$BACKEND" = import ]; then
  step "3/6 knowledge imported from $DATA/fs-jmere (the paper's ChatGPT knowledge)"
  "$KECPM" import-knowledge "${dirs[@]}" --source "$DATA/fs-jmere"
else
  # a vllm backend option: passed only when asked for (another backend then says it has no such option)
  json=(); [ -n "${KECPM_JSON_MODE:-}" ] && json=(--set backend.json_mode="$JSON_MODE")
  step "3/6 knowledge with $LLM ($BACKEND backend, $DEMOS demonstrations, $REFLECT, JSON mode $JSON_MODE); answers cached, a rerun is free"
  ${pre_pid:+env OMP_NUM_THREADS=1} "$KECPM" gen-knowledge "${dirs[@]}" --backend "$BACKEND" --model "$LLM" --n-demos "$DEMOS" "$REFLECT" "${json[@]}"
fi
if [ -n "$pre_pid" ]; then
  step "waiting for the entity model of step 2"
  wait "$pre_pid" || { pre_pid=; echo "error: kecpm pretrain-entities failed (its messages are above)" >&2; exit 1; }
  pre_pid=
  init=$(tail -n 1 "$init_file"); warm=(--init-from "$init"); start_from="the entity model $init"
fi

step "4/6 train and score $what, $WORKERS at a time (at most $MAXMIN min per model; the best epoch is kept)"
"$KECPM" train --shots "$K" --seeds "$SEEDS" --out "$RUNS" --name "mnre-K$K" --max-minutes "$MAXMIN" --workers "$WORKERS" \
  "${how[@]}" ${KECPM_EPOCHS:+--epochs "$KECPM_EPOCHS"} "${warm[@]}"

step "5/6 evaluate the first seed's test predictions again with kecpm evaluate"
first=${SEEDS%% *}
"$KECPM" evaluate --gold "$SPLITS/seed$first/test.jsonl" --pred "$RUNS/mnre-K$K/seed$first/predictions.jsonl" \
  --out "$RUNS/mnre-K$K/seed$first/evaluate.json"

step "6/6 report: per-relation F1, confusion matrix and learning curves (PNG) and report.md"
"$KECPM" report "$RUNS/mnre-K$K"
step "done: summary in $RUNS/mnre-K$K/summary.csv, report in $RUNS/mnre-K$K/report.md; $what, started from $start_from"
