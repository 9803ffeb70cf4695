#!/usr/bin/env bash
# The README's path as a new user walks it, with the defaults: a 12-subject phantom at
# 1 mm, checked, measured, trained on, predicted, evaluated and reported. Prints each
# step's wall time and the test Dice per muscle.
#
#     bash benchmarks/newcomer.sh [WORKDIR]
#
# TIME_LIMIT (default 15m, the README's) sets the training budget; SUBJECTS (12) and
# SPACING (1.0 mm) the cohort, for a quick try of the script itself.
set -euo pipefail
work=${1:-benchmarks/_data/newcomer}
time_limit=${TIME_LIMIT:-15m}
subjects=${SUBJECTS:-12}
spacing=${SPACING:-1.0}
rm -rf "$work"
mkdir -p "$work"
cd "$work"

declare -a names secs
step() {
  local name=$1
  shift
  local t0
  t0=$(date +%s.%N)
  "$@" >"$name.log" 2>&1 || { echo "step '$name' failed (exit $?):"; tail -5 "$name.log"; exit 1; }
  names+=("$name")
  secs+=("$(python -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
    "$t0" "$(date +%s.%N)")")
}

step synth leg3dus synth phantom --subjects "$subjects" --spacing "$spacing" --seed 0 --quiet
step info leg3dus info phantom
step validate leg3dus validate phantom
step morphology leg3dus morphology phantom -o morphology.csv --profiles csa.csv --quiet
step train leg3dus train phantom --model 2d --out runs/p2d --time-limit "$time_limit"
grep -h "^preset" train.log || true
step predict leg3dus predict runs/p2d phantom/test -o predictions --quiet
step evaluate leg3dus evaluate predictions phantom --split test --out eval.json --quiet
step report leg3dus report phantom --predictions predictions -o report.html --quiet

echo "newcomer path, $subjects subjects at $spacing mm, train --time-limit $time_limit"
for i in "${!names[@]}"; do
  printf '  %-11s %8s s\n' "${names[$i]}" "${secs[$i]}"
done
python - <<'PY'
import json

summary = json.load(open("eval.json"))["summary"]
for muscle in ("SOL", "GM", "GL"):
    row = summary[muscle]["dice"]
    print(f"  test Dice {muscle:<3} {row['mean']:.3f} (n={row['n']}, "
          f"missing {row['n_missing']})")
PY
