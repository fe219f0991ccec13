#!/usr/bin/env bash
# Memory-safety run of the kernel tests under valgrind's memcheck.
#
#   bash tests/memcheck.sh            (about 10 minutes; needs valgrind)
#
# Python's own allocator is switched to malloc so that every buffer the kernels
# touch is tracked; only errors inside gmmcore's extension are counted (numpy,
# OpenBLAS and the interpreter have their own, well-known reports).  Exits 1 on any
# invalid read or write, use of uninitialised memory or bad free in _kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
log="${1:-memcheck.log}"
# the interpreter itself, not a launcher script (valgrind does not follow exec)
python=$(python -c 'import sys; print(sys.executable)')
PYTHONMALLOC=malloc OPENBLAS_NUM_THREADS=1 valgrind --tool=memcheck --track-origins=no \
    --num-callers=30 --log-file="$log" \
    "$python" -m pytest -q -p no:cacheprovider tests/test_kernels.py tests/test_reference_scipy.py \
    tests/test_plan.py tests/test_missing.py \
    -k "not simd_level" || true
errors=$(grep -cE "^==[0-9]+== (Invalid (read|write)|Conditional jump|Use of uninitialised|Invalid free|Mismatched free)" "$log" || true)
ours=$(awk '/^==[0-9]+== (Invalid|Conditional|Use of uninit|Mismatched)/{block=1; hit=0; next}
            block && /_kernels|gmmcore_simd|csrc\/simd/ {hit=1}
            block && /^==[0-9]+== $/ {if (hit) n++; block=0}
            END {print n+0}' "$log")
echo "memcheck: $errors error reports in total, $ours with a gmmcore kernel frame (log: $log)"
grep -E "ERROR SUMMARY" "$log" | tail -1
grep -q "ERROR SUMMARY" "$log" || { echo "valgrind did not run the tests" >&2; exit 1; }
[ "$ours" -eq 0 ]
