#!/usr/bin/env bash
# The Emotion Extractor recipe study (docs/methods.md): four suites of variants into one store, then the
# per-class table -> perf/results/ee_recipe_study.json. About 45 min on 2 cores.
#
#   perf/ee_recipe_study.sh [STORE_DIR]
#
# The rounds were run with benchmark/methods/emotion_extractor.py as of commit 1ee0257, whose defaults were
# the old all-augmentations-on recipe: `emotion_extractor` and every variant's unnamed hyperparameter mean
# those defaults. To reproduce the numbers exactly, run this script on a checkout of that commit
# (`git worktree add /tmp/ee-study 1ee0257`), with perf/cell_table.py from this one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
store="${1:-$PWD/ee-recipe-study}"
mkdir -p "$store"
uri="sqlite:///$store/mlflow.db"
for round in 1 2 3 4; do
  python -m benchmark.cli run "$here/studies/ee_recipe/round$round.yaml" --tracking-uri "$uri" --no-publish
done
python "$here/cell_table.py" ee_screen --tracking-uri "$uri" --json "$here/results/ee_recipe_study.json"
