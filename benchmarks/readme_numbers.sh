#!/usr/bin/env bash
# Measures the numbers the documentation's benchmark pages report, one job at a time (two trainings at once on
# 2 cores thrash). Results land in runs/readme/; docs/benchmarks/ quote them with these commands.
# Full run on a 2-core CPU: about an hour and a half. Usage: benchmarks/readme_numbers.sh [STEP...]
set -uo pipefail
cd "$(dirname "$0")/.."
RL=.venv/bin/robustloss
PY=.venv/bin/python
OUT=runs/readme
mkdir -p "$OUT"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(insample-blurry insample-ce bench-losses bench-train cv-blurry cv-ce overfit quick
                               insample-gce precision-seeds)

timed() {  # timed NAME CMD... : stdout to $OUT/NAME.json (or .txt), wall time to $OUT/NAME.time
    local name=$1; shift
    local start=$(date +%s)
    "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
    local rc=$?
    echo "$name rc=$rc seconds=$(( $(date +%s) - start ))" | tee -a "$OUT/times.txt"
}

for step in "${steps[@]}"; do
    case $step in
    insample-blurry) timed insample-blurry $RL run --dataset mnist --noise 0.2 --loss blurry --gamma 0.4 \
                        --protocol in-sample --out "$OUT/insample-blurry" --overwrite --json ;;
    insample-ce)     timed insample-ce $RL run --dataset mnist --noise 0.2 --loss ce \
                        --protocol in-sample --out "$OUT/insample-ce" --overwrite --json ;;
    cv-blurry)       timed cv-blurry $RL run --dataset mnist --noise 0.2 --loss blurry --gamma 0.4 \
                        --protocol cv --out "$OUT/cv-blurry" --overwrite --json ;;
    cv-ce)           timed cv-ce $RL run --dataset mnist --noise 0.2 --loss ce \
                        --protocol cv --out "$OUT/cv-ce" --overwrite --json ;;
    insample-gce)    timed insample-gce $RL run --dataset mnist --noise 0.2 --loss gce --q 0.4 \
                        --protocol in-sample --out "$OUT/insample-gce" --overwrite --json ;;
    precision-seeds) # Blurry in-sample, fp32 vs bf16 + channels-last, over seeds 0-2
                     for seed in 0 1 2; do
                         for prec in fp32 bf16; do
                             name=precision-$prec-seed$seed
                             [ "$prec$seed" = fp320 ] && { cp "$OUT/insample-blurry.out" "$OUT/$name.out"; continue; }
                             extra=(); [ $prec = bf16 ] && extra=(--precision bf16 --channels-last)
                             timed $name $RL run --dataset mnist --noise 0.2 --loss blurry --gamma 0.4 \
                                 --protocol in-sample --seed $seed "${extra[@]}" \
                                 --out "$OUT/$name" --overwrite --json
                         done
                     done ;;
    bench-losses)    timed bench-losses $PY benchmarks/bench_losses.py --threads 1 ;;
    bench-train)     timed bench-train $PY benchmarks/train_throughput.py --samples 4096 --rounds 3 --threads 2 ;;
    overfit)         timed overfit $RL overfit-point --dataset mnist --epochs 15 --json ;;
    quick)           rm -rf "$OUT/quick"; mkdir -p "$OUT/quick"; timed quick $RL reproduce --quick --db "$OUT/quick/results.db" --out "$OUT/quick/report" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
