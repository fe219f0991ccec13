#!/usr/bin/env bash
# The compiled kernels on the CPUs this machine is not: aarch64 (its NEON loops) and
# two older x86-64 CPUs, under QEMU's user-mode emulation, on a Debian 12 x86-64
# machine as root.
#
#   bash wheels/test_emulated.sh            # the kernel test modules .ci/run gives the
#                                           # plain-C build (far longer: see below)
#   bash wheels/test_emulated.sh --quick    # a subset: 8 minutes on 2 cores, with
#                                           # the packages already downloaded
#
# 1. aarch64.  The extension is cross-compiled by setup.py itself (its flags, its
#    generated loops), run by a host CPython 3.11 with Debian's gcc-aarch64-linux-gnu
#    and the sysconfig of Debian's arm64 CPython 3.11: _PYTHON_SYSCONFIGDATA_NAME
#    points at that sysconfigdata, which names the cross compiler and the aarch64
#    extension suffix, and CPPFLAGS puts the arm64 Python headers first.  Cython's C is
#    the same for every target, so the host's Cython writes it.  The arm64 CPython runs
#    from a sysroot of Debian arm64 packages unpacked with dpkg -x (`qemu-aarch64 -L`),
#    with numpy, scipy, scikit-learn and pytest from their manylinux aarch64 wheels
#    (pip download/install --platform, the versions of the host's), on a Neoverse-N1
#    model (no SVE: what most aarch64 servers run).
# 2. x86-64.  The wheel built from this tree for the host CPython, installed in a venv,
#    under `qemu-x86_64 -cpu Nehalem` (no AVX: the baseline loops, and the oldest CPU
#    current numpy accepts) and `-cpu Haswell-noTSX` (AVX2+FMA, no AVX-512).
# Each target first reports its instruction set (gmmcore._kernels.SIMD_LEVEL must be
# generic on aarch64 and Nehalem, avx2 on Haswell; SIMD_PORTABLE false unless CFLAGS
# has -DGMM_PORTABLE), then recomputes fixed-parameter outputs (one EM step, score_samples
# and predict_proba for every covariance type, float32 and float64: wheels/
# emulated_outputs.py) and compares them with the host's native ones, then runs the tests.
# The closing line is "N passed, M failed" over all of these checks and tests.
#
# Without binfmt_misc the kernel cannot run a foreign binary, so a test that starts
# sys.executable again would fail: each target's interpreter is started through a
# small wrapper script that execs QEMU, and QEMU's -0 makes that wrapper the
# interpreter's argv[0], hence its sys.executable, so child interpreters are
# emulated too.  OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for the emulated
# runs: set for the host's CPU, they would force kernels the emulated one lacks.
#
# Needs apt (it installs qemu-user and gcc-aarch64-linux-gnu, adds the arm64 package
# architecture), PyPI, and pyenv's CPython 3.11 (or Debian's python3.11 with venv).
# Downloads and the sysroot are kept in $GMMCORE_EMULATED_DIR (default
# /tmp/gmmcore-emulated) for the next run; builds are redone every run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${GMMCORE_EMULATED_DIR:-/tmp/gmmcore-emulated}"
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) echo "usage: bash wheels/test_emulated.sh [--quick]" >&2; exit 2 ;;
esac
started=$(date +%s)
mkdir -p "$work/logs"

# Quick: the kernel and parity tests, less the four 64-feature digits fits, the
# block plan, and the missing-value kernels' tests less those whose time is a
# reference EM in Python.  Full: every module that .ci/run gives the plain-C build.
# Emulation is slow, AVX2+FMA the most (QEMU computes each fused multiply-add in
# software): the digits fits took 3.5 of the 4.2 minutes of the kernel and parity
# modules under Nehalem, the 64-feature case of test_kernel_outputs.py 6.7 minutes
# under Haswell (40 s under Nehalem), and the whole of test_missing.py 2-4.5 minutes
# per target (its per-row reference EM, 9 s a case under Nehalem).
if [ "$quick" = 1 ]; then
    tests=(tests/test_kernels.py tests/test_parity_sklearn.py tests/test_plan.py
           tests/test_missing.py)
    keep="not digits and not per_row_reference and not (wide_rows and 9) and not recovery"
    keep+=" and not chunk_sources and not model_selection and not integer_weights"
    select=(-k "$keep")
    limit=1200
else
    tests=(tests/test_kernels.py tests/test_parity_sklearn.py tests/test_degenerate.py
           tests/test_sample_weight.py tests/test_extreme_geometry.py
           tests/test_kernel_outputs.py tests/test_plan.py tests/test_missing.py)
    select=()
    limit=5400
fi
portable=0
case " ${CFLAGS:-} " in *-DGMM_PORTABLE*) portable=1 ;; esac

# ---------------------------------------------------------------------------- tools
missing=()
command -v qemu-aarch64 > /dev/null && command -v qemu-x86_64 > /dev/null || missing+=(qemu-user)
command -v aarch64-linux-gnu-gcc > /dev/null || missing+=(gcc-aarch64-linux-gnu)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "== adding the arm64 package architecture (for the arm64 CPython)"
    dpkg --add-architecture arm64
    need_update=1
fi
if [ ${#missing[@]} -gt 0 ] || [ -n "${need_update:-}" ]; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -q > "$work/logs/apt.log" 2>&1 || { tail -n 20 "$work/logs/apt.log"; exit 1; }
    if [ ${#missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
            >> "$work/logs/apt.log" 2>&1 || { tail -n 20 "$work/logs/apt.log"; exit 1; }
    fi
fi

find_python() {  # the newest pyenv CPython with this major.minor, else Debian's
    local v=$1 p
    # shellcheck disable=SC2012  # version directories: plain names
    p=$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$v".* 2>/dev/null |
        sort -V | tail -n 1)
    if [ -n "$p" ] && [ -x "$p/bin/python" ]; then echo "$p/bin/python"
    elif command -v "python$v" > /dev/null; then command -v "python$v"
    else return 1; fi
}
hostpy=$(find_python 3.11) || { echo "no CPython 3.11 (pyenv or python3.11)" >&2; exit 1; }

# The host venv: builds both extensions, computes the reference outputs natively, and
# is the x86-64 interpreter that QEMU runs (the wheel is installed into it).
host="$work/host"
if [ ! -x "$host/bin/python" ]; then
    echo "== host venv ($hostpy)"
    "$hostpy" -m venv "$host"
fi
"$host/bin/python" -m pip install --quiet --upgrade pip > "$work/logs/pip-host.log" 2>&1
"$host/bin/python" -m pip install --quiet "setuptools>=77" "Cython>=3.1" numpy scipy \
    scikit-learn threadpoolctl pytest hypothesis >> "$work/logs/pip-host.log" 2>&1 ||
    { tail -n 20 "$work/logs/pip-host.log"; exit 1; }
versions() {  # name==version of the host venv's packages, for the aarch64 ones
    "$host/bin/python" - "$@" <<'EOF'
import sys
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
EOF
}

copy_tree() {  # $1: destination; the tracked files of this tree, as they are on disk
    rm -rf "$1"
    mkdir -p "$1"
    (cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$1")
}

# The tests run from a copy away from any source tree: `import gmmcore` finds the
# wheel (x86-64) or the cross-built package (aarch64) only.
rm -rf "$work/run"
mkdir -p "$work/run"
cp -r "$root/tests" "$work/run/tests"

# ------------------------------------------------------------ x86-64 wheel, reference
echo "== x86-64 wheel"
copy_tree "$work/src-x86"
rm -rf "$work/dist"
"$host/bin/python" -m pip wheel --no-deps \
    --no-build-isolation --wheel-dir "$work/dist" "$work/src-x86" > "$work/logs/build-x86.log" 2>&1 ||
    { tail -n 40 "$work/logs/build-x86.log"; exit 1; }
wheel=$(ls "$work"/dist/gmmcore-*.whl)
"$host/bin/python" -m pip install --quiet --no-deps --force-reinstall "$wheel" \
    >> "$work/logs/build-x86.log" 2>&1 || { tail -n 20 "$work/logs/build-x86.log"; exit 1; }
echo "  $(basename "$wheel")"
(cd "$work/run" && env -u PYTHONPATH "$host/bin/python" "$root/wheels/emulated_outputs.py" \
    write "$work/reference.npz" | sed 's/^/  /')

# ------------------------------------------------------------------ aarch64 sysroot
sysroot="$work/sysroot"
debs=(libc6 libgcc-s1 libstdc++6 python3.11-minimal libpython3.11-minimal
      libpython3.11-stdlib libpython3.11-dev libexpat1 zlib1g libssl3 libbz2-1.0 libffi8
      liblzma5 libuuid1 libcrypt1)
if [ ! -x "$sysroot/usr/bin/python3.11" ]; then
    echo "== arm64 CPython sysroot (Debian packages, dpkg -x)"
    rm -rf "$work/debs" "$sysroot"
    mkdir -p "$work/debs" "$sysroot"
    # apt-get download writes into the current directory
    (cd "$work/debs" && apt-get download "${debs[@]/%/:arm64}" > "$work/logs/debs.log" 2>&1) ||
        { tail -n 20 "$work/logs/debs.log"; exit 1; }
    for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
fi
cat > "$sysroot/usr/bin/python3-qemu" <<EOF
#!/bin/sh
exec qemu-aarch64 -L "$sysroot" -cpu neoverse-n1 -0 "\$0" "$sysroot/usr/bin/python3.11" "\$@"
EOF
chmod +x "$sysroot/usr/bin/python3-qemu"

a64site="$work/aarch64-site"
want=$(versions numpy scipy scikit-learn threadpoolctl pytest)
if [ "$(cat "$a64site/.versions" 2>/dev/null)" != "$want" ]; then
    echo "== aarch64 wheels: $want"
    rm -rf "$a64site"
    # shellcheck disable=SC2086  # $want: one requirement per word
    "$host/bin/python" -m pip install --quiet --only-binary=:all: \
        --platform manylinux_2_28_aarch64 --python-version 3.11 --implementation cp \
        --abi cp311 --target "$a64site" $want hypothesis > "$work/logs/pip-aarch64.log" 2>&1 ||
        { tail -n 20 "$work/logs/pip-aarch64.log"; exit 1; }
    echo "$want" > "$a64site/.versions"
fi

echo "== aarch64 extension (cross-compiled by setup.py)"
copy_tree "$work/src-a64"
cp "$sysroot/usr/lib/python3.11/_sysconfigdata__aarch64-linux-gnu.py" "$work/src-a64/"
(cd "$work/src-a64" &&
    env _PYTHON_HOST_PLATFORM=linux-aarch64 \
        _PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__aarch64-linux-gnu PYTHONPATH="$PWD" \
        CPPFLAGS="-I$a64site/numpy/_core/include -I$sysroot/usr/include/python3.11 -I$sysroot/usr/include" \
        "$host/bin/python" setup.py build_ext --inplace > "$work/logs/build-aarch64.log" 2>&1) ||
    { tail -n 40 "$work/logs/build-aarch64.log"; exit 1; }
a64pkg="$work/aarch64-gmmcore"
rm -rf "$a64pkg"
mkdir -p "$a64pkg/gmmcore"
cp "$work"/src-a64/src/gmmcore/*.py "$work"/src-a64/src/gmmcore/_kernels.*.so "$a64pkg/gmmcore/"
so=$(ls "$a64pkg"/gmmcore/_kernels.*.so)
aarch64-linux-gnu-readelf -h "$so" | grep -q 'Machine:.*AArch64' || { echo "$so is not an aarch64 object" >&2; exit 1; }
echo "  $(basename "$so")"

# ------------------------------------------------------------------------ the runs
passed=0
failed=0
summary=()

count() {  # $1: part, $2: passed, $3: failed, $4: note
    passed=$((passed + $2))
    failed=$((failed + $3))
    summary+=("$(printf '  %-22s %4d passed, %d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
    echo "  $1: $2 passed, $3 failed${4:+ ($4)}"
}

run_target() {  # $1: name, $2: interpreter, $3: expected SIMD_LEVEL, $4: expected machine,
                # $5: PYTHONPATH, rest: pytest arguments of this target
    local name=$1 py=$2 level=$3 machine=$4 path=$5 log t0 got line p f s
    shift 5
    echo "== $name"
    log="$work/logs/${name// /-}"
    # the emulated runs take no CPU setting of the host's, and no SIMD cap;
    # GMMCORE_EXPECTED_SIMD tells the tests the emulated CPU's level (/proc/cpuinfo
    # is the host's)
    local run=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u GMMCORE_SIMD
               GMMCORE_EXPECTED_SIMD="$level" PYTHONPATH="$path" "$py")
    local expected="$level False $machine"
    [ "$portable" = 1 ] && expected="$level True $machine"
    got=$(cd "$work/run" && "${run[@]}" -c "import platform, gmmcore._kernels as k; \
print(k.SIMD_LEVEL, k.SIMD_PORTABLE, platform.machine())" 2> "$log-import.log") || got="(failed)"
    if [ "$got" = "$expected" ]; then count "$name import" 1 0 "$got"
    else count "$name import" 0 1 "got '$got', expected '$expected'"; fi

    t0=$(date +%s)
    (cd "$work/run" && timeout "$limit" "${run[@]}" "$root/wheels/emulated_outputs.py" check \
        "$work/reference.npz") > "$log-outputs.log" 2>&1 || true
    line=$(tail -n 1 "$log-outputs.log")
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        grep FAIL "$log-outputs.log" || true
        count "$name outputs" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$(($(date +%s) - t0)) s"
    else
        tail -n 20 "$log-outputs.log"
        count "$name outputs" 0 1 "did not finish"
    fi

    t0=$(date +%s)
    (cd "$work/run" && timeout "$limit" "${run[@]}" -m pytest -q -p no:cacheprovider \
        --durations=5 "$@") > "$log-tests.log" 2>&1 || true
    # pytest's closing line, e.g. "1 failed, 238 passed, 4 deselected in 150.23s"
    line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$log-tests.log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        tail -n 30 "$log-tests.log"
        count "$name tests" 0 1 "pytest did not finish"
        return
    fi
    grep -E '^(FAILED|ERROR) ' "$log-tests.log" || true
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | cut -d' ' -f1 || true)
    f=0
    for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$line" | cut -d' ' -f1 || true); do
        f=$((f + n))
    done
    s=$(grep -oE '[0-9]+ (skipped|deselected|xfailed)' <<<"$line" | paste -sd' ' - || true)
    count "$name tests" "${p:-0}" "$f" "${s:+$s, }$(($(date +%s) - t0)) s"
}

run_target aarch64 "$sysroot/usr/bin/python3-qemu" generic aarch64 "$a64pkg:$a64site" \
    "${tests[@]}" "${select[@]}"

for cpu in Nehalem Haswell-noTSX; do
    # -pcid,...: features the Haswell model lists but TCG does not emulate, each of which
    # QEMU would warn about on every start (and on the stderr of every child)
    case $cpu in
        Nehalem) model=Nehalem level=generic ;;
        Haswell-noTSX) model=Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid level=avx2 ;;
    esac
    [ "$portable" = 1 ] && level=generic
    wrapper="$host/bin/python-$cpu"
    cat > "$wrapper" <<EOF
#!/bin/sh
exec qemu-x86_64 -cpu $model -0 "\$0" "$host/bin/python" "\$@"
EOF
    chmod +x "$wrapper"
    run_target "x86-64 $cpu" "$wrapper" "$level" x86_64 "" \
        "${tests[@]}" "${select[@]}"
done

echo "== summary ($([ "$quick" = 1 ] && echo quick || echo full) run," \
     "$(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s;" \
     "logs in $work/logs)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
