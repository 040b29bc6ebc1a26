#!/usr/bin/env bash
# Runs on the GPU machine (issue 21), one step per device call; see benchmarks/gpu/prepare.py.
#   device.sh part K   keep slice K of the onnxruntime-gpu wheel (.devcarry/gpuK); K=1 also installs the
#                      carried transformers wheel and starts the two artifact exports in the background
#   device.sh finish   keep the last slice, check the wheel's SHA-256, install it, wait for the exports,
#                      run benchmarks.gpu.measure and write gpu_results.json + logs into $OUT
#   device.sh export   (started by part 1) the exporter on two random-init presets, fp16 graphs included
# Dry run on a CPU machine: GPU_DRY_RUN=1 CLS_ARTIFACT=DIR SEG_ARTIFACT=DIR OUT=DIR device.sh finish
set -euo pipefail
STEP=${1:?usage: device.sh part K | finish | export}
PARTS=/tmp/ort-parts
ART=${ART:-/tmp/art}
CLS_MODEL=${CLS_MODEL:-microsoft/beit-base-patch16-224}
SEG_MODEL=${SEG_MODEL-microsoft/beit-base-finetuned-ade-640-640}  # empty: no segmentation rows
EXPORT_FLAGS=${EXPORT_FLAGS:---fp16}

keep_slice() {  # idempotent: a retried call overwrites its own slice
    mkdir -p "$PARTS"
    cp ".devcarry/gpu$1/ort.part" "$PARTS/part$1"
    echo "slice $1: $(stat -c %s "$PARTS/part$1") bytes; kept: $(ls "$PARTS" | tr '\n' ' ')"
}

start_exports() {
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/tf .devcarry/gpu1/transformers-*.whl
    cp .devcarry/gpu1/SHA256SUMS /tmp/SHA256SUMS
    rm -rf /tmp/repo && mkdir -p /tmp/repo && cp -r beit_export beit_runtime benchmarks pyproject.toml /tmp/repo/
    rm -rf "$ART" && mkdir -p "$ART"
    (cd /tmp/repo && setsid nohup bash benchmarks/gpu/device.sh export >/tmp/export.log 2>&1 </dev/null &)
    nvidia-smi -L || true
    python3 -c "import torch, onnxruntime; print('torch', torch.__version__, 'ort', onnxruntime.__version__)"
}

run_exports() {
    export PYTHONPATH=/tmp/tf:$PWD
    for pair in "cls:$CLS_MODEL" ${SEG_MODEL:+"seg:$SEG_MODEL"}; do
        name=${pair%%:*}; model=${pair#*:}
        echo "[export] $model -> $ART/$name ($(date +%T))"
        # shellcheck disable=SC2086
        python3 -m beit_export --model "$model" --random-init $EXPORT_FLAGS --output "$ART/$name" --quiet \
            || { echo "failed: $model" > "$ART/done"; exit 1; }
    done
    echo ok > "$ART/done"
    echo "[export] done ($(date +%T))"
}

install_wheel() {
    local name; name=$(awk '{print $2}' /tmp/SHA256SUMS)
    mkdir -p /tmp/whl && rm -f /tmp/whl/*.whl
    for k in $(seq 1 "$1"); do cat "$PARTS/part$k"; done > "/tmp/whl/$name"
    (cd /tmp/whl && sha256sum -c /tmp/SHA256SUMS)
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ort "/tmp/whl/$name"
}

wait_for_exports() {
    for _ in $(seq 1 "${EXPORT_WAIT_S:-300}"); do [ -f "$ART/done" ] && break; sleep 1; done
    tail -5 /tmp/export.log || true
    [ "$(cat "$ART/done" 2>/dev/null)" = ok ] || { echo "exports did not finish"; exit 3; }
}

finish() {
    local last; last=$(ls -d .devcarry/gpu* | sed 's/.*gpu//' | sort -n | tail -1)
    keep_slice "$last"
    install_wheel "$last"
    wait_for_exports
    export PYTHONPATH=/tmp/ort:/tmp/tf:$PWD
    local segmenter=(); [ -d "$ART/seg" ] && segmenter=(--segmenter "$ART/seg")
    # shellcheck disable=SC2086
    python3 -m benchmarks.gpu.measure --classifier "$ART/cls" "${segmenter[@]}" --out "$OUT" \
        --budget-s "${BUDGET_S:-330}" ${MEASURE_ARGS:-} 2>&1 | tee "$OUT/measure.log"
    cp /tmp/export.log "$OUT/export.log"
    for name in cls seg; do [ -d "$ART/$name" ] && cp "$ART/$name/manifest.json" "$OUT/$name-manifest.json"; done
    return 0
}

dry_run() {  # the same measurement on the CPU provider with given (tiny) artifacts
    python3 -m benchmarks.gpu.measure --classifier "$CLS_ARTIFACT" --segmenter "$SEG_ARTIFACT" --out "$OUT" \
        --work "$OUT/work" --dry-run ${MEASURE_ARGS:-} 2>&1 | tee "$OUT/measure.log"
}

case "$STEP" in
    part) keep_slice "${2:?part needs K}"; if [ "$2" = 1 ]; then start_exports; else tail -3 /tmp/export.log; fi ;;
    export) run_exports ;;
    finish) if [ "${GPU_DRY_RUN:-0}" = 1 ]; then dry_run; else finish; fi ;;
    *) echo "unknown step $STEP"; exit 2 ;;
esac
