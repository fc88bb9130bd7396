#!/usr/bin/env bash
# Side-by-side benchmark of the spinnaker2 emulator against Brian2 (the peer) on the network of
# ../shared/bench/README.md, alternating the two in one session (timings on shared machines swing
# 2-3x between runs, so compare medians of alternated runs, never lone numbers).
#
#   scripts/bench_peer.sh [N=10000] [ROUNDS=3] [TARGETS="cpp cython"]
#
# Needs python3; installs Brian2 (and numpy<2.4, which Brian2 2.9 needs) into .venv-bench on
# first use. Prints every RESULT line and, per runner, the median and best events per second.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}; rounds=${2:-3}; targets=${3:-"cpp cython"}
peer=../shared/bench/brian2_peer.py
venv=.venv-bench
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet brian2 "numpy<2.4"
fi
cargo build --release --quiet -p snnc-examples --example bench_spinnaker2
bench=target/release/examples/bench_spinnaker2
log=$(mktemp)
"$bench" compile "$n" | tee -a "$log" | head -1
for r in $(seq "$rounds"); do
    echo "== round $r"
    "$bench" emulate "$n" 1000 --threads 1 | sed 's/^RESULT /RESULT runner=snnc-noc-1thread /' | tee -a "$log"
    "$bench" emulate "$n" 1000 | sed 's/^RESULT /RESULT runner=snnc-noc-2threads /' | tee -a "$log"
    for t in $targets; do
        "$venv/bin/python" "$peer" "$t" "$n" 100 100 2>/dev/null | grep '^RESULT' \
            | sed "s/^RESULT /RESULT runner=brian2-$t /" | tee -a "$log"
    done
done
echo "== median (best) synaptic events per second, N = $n, $rounds rounds"
python3 - "$log" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.search(r'runner=(\S+).*ev_per_s=(\S+)', line)
    if m:
        runs.setdefault(m.group(1), []).append(float(m.group(2)))
for k, v in runs.items():
    print(f"{k:24} {statistics.median(v):.2e} ({max(v):.2e})  n={len(v)}")
PY
rm -f "$log"
