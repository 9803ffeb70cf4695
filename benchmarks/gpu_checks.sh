#!/usr/bin/env bash
# The GPU paths' tests and figures in one go, on a machine with a CUDA GPU and the
# project installed (pip install -e ".[all,dev]" with a CUDA build of torch).
# Each step has its own time limit, so one slow step cannot hide the others; logs go to
# the folder given as the first argument (default: gpu-checks/).
#
#   bash benchmarks/gpu_checks.sh logs/
set -u
out=${1:-gpu-checks}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s)"
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    echo "   exit $? ($(tail -n 1 "$out/$name.log"))"
}
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.cuda.get_device_name(0))" || exit 1
step tests 240 python -m pytest -q tests/test_compound_torch.py tests/test_infer_device.py \
    tests/test_train_device.py
step compound 150 python benchmarks/bench_compound.py --device cuda
step predict 200 python benchmarks/bench_segment.py --device auto --tta
step train 400 python benchmarks/bench_train.py --subjects 20 --spacing 1.0 --batch 8 32 --dice
