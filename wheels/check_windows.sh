#!/usr/bin/env bash
# The C loops of csrc/ as the Windows wheels compile them, checked on this Debian
# x86-64 machine: clang-cl's dialect (MSVC's: _MSC_VER defined, __GNUC__ not) for
# x86_64-pc-windows-msvc, with the flags setup.py gives it, in both builds:
#
#   vector   what the Windows wheels hold (CC=clang-cl): GNU vector extensions, a
#            clone per instruction set, the CPU's own report (CPUID, XGETBV) to
#            choose one.  Each object must compile without a warning, the families
#            must hold AVX-512 (zmm) and AVX2 (ymm) code, and the dispatch must
#            read CPUID and XGETBV.
#   plain C  what MSVC's cl builds (a source build without CC=clang-cl), taken
#            here with -DGMM_PORTABLE: MSVC's __forceinline and __restrict, no
#            vector types and no dispatch.
#
#   bash wheels/check_windows.sh          # about a minute on 2 cores
#
# There are no MSVC headers here: the C library's come from mingw-w64, made to read
# as MSVC's by a wrapper around its _mingw.h (mingw-w64 defines __attribute__ away
# and puts __declspec where only a GNU attribute may go when it does not see GCC).
# The kernels include only the standard C headers and Clang's own intrinsics
# headers, so what is checked is csrc/ in clang-cl's dialect, not the headers.
# Linking and running need Windows: the wheels job of .github/workflows/wheels.yml
# builds, tests and checks (not k.SIMD_PORTABLE) the real ones.  Needs apt (it
# installs clang and mingw-w64 if missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

clang=""
for candidate in clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
    if command -v "$candidate" > /dev/null; then clang="$candidate"; break; fi
done
if [ -z "$clang" ] || [ ! -d /usr/x86_64-w64-mingw32/include ]; then
    echo "== apt-get install clang mingw-w64"
    apt-get update -q > "$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q clang mingw-w64 >> "$work/apt.log" 2>&1 \
        || { tail -n 20 "$work/apt.log"; exit 1; }
    clang=clang
fi
objdump="$(command -v "llvm-objdump-${clang#clang-}" || command -v llvm-objdump || true)"
echo "== $("$clang" --version | head -n 1)"

mkdir -p "$work/include"
cat > "$work/include/_mingw.h" <<'EOF'
#include_next <_mingw.h>
#undef __attribute__
#undef __MINGW_ATTRIB_NORETURN
#define __MINGW_ATTRIB_NORETURN
#undef __MINGW_ATTRIB_DEPRECATED
#define __MINGW_ATTRIB_DEPRECATED
#undef __MINGW_NOTHROW
#define __MINGW_NOTHROW
EOF

# the loops as setup.py generates them
(cd "$root" && python3 csrc/generate.py > /dev/null) || {
    echo "csrc/generate.py failed (it needs Cython's Tempita: pip install cython)" >&2; exit 1; }
sources=("$root/csrc/gmmcore_simd.c" "$root"/csrc/simd/*.c)

passed=0
failed=0
check() {  # check <name> <command...>: one check, counted
    local name="$1"; shift
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

compile() {  # compile <build> <source> <flags...>: no errors and no warnings
    local build="$1" src="$2"; shift 2
    local obj="$work/$build/$(basename "$src" .c).obj"
    mkdir -p "$work/$build"
    "$clang" --driver-mode=cl --target=x86_64-pc-windows-msvc /nologo /c /O2 /fp:precise \
        /W3 /WX "$@" -imsvc "$work/include" -imsvc /usr/x86_64-w64-mingw32/include \
        "-I$root/csrc" "/Fo$obj" -- "$src" > "$work/$build.log" 2>&1 \
        || { cat "$work/$build.log"; return 1; }
}

has() {  # has <object> <pattern> <what>: the disassembly holds the pattern
    [ -n "$objdump" ] || return 0
    "$objdump" -d "$1" > "$work/disassembly" || return 1
    grep -q -E "$2" "$work/disassembly" || { echo "$1 has no $3"; return 1; }
}

lacks() {  # lacks <object> <pattern>: the disassembly does not hold it
    [ -n "$objdump" ] || return 0
    "$objdump" -d "$1" > "$work/disassembly" || return 1
    ! grep -q -E "$2" "$work/disassembly"
}

for src in "${sources[@]}"; do
    check "vector $(basename "$src")" compile vector "$src"
    check "plain C $(basename "$src")" compile plain "$src" -DGMM_PORTABLE
done
if [ -z "$objdump" ]; then echo "(no llvm-objdump: instructions not checked)"; fi
check "dispatch reads CPUID" has "$work/vector/gmmcore_simd.obj" "cpuid" "cpuid"
check "dispatch reads XGETBV" has "$work/vector/gmmcore_simd.obj" "xgetbv" "xgetbv"
for family in exp_lse small_tiles feature_major statistics designs marginal; do
    check "$family AVX-512" has "$work/vector/$family.obj" "%zmm" "AVX-512 code"
    check "$family AVX2" has "$work/vector/$family.obj" "%ymm" "AVX2 code"
    check "$family plain C: no AVX" lacks "$work/plain/$family.obj" "%(ymm|zmm)"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
