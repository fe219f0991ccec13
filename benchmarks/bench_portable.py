"""The plain-C loops (what MSVC's cl builds from the sdist) against the vector ones
(what every wheel holds, the Windows ones built by clang-cl), per EM iteration,
measured in the same run on the same machine.

    python benchmarks/bench_portable.py               # W1 and W2, float64 and float32
    python benchmarks/bench_portable.py --repeat 5 --workloads W2 --dtypes float64
    python benchmarks/bench_portable.py --cc clang     # both builds by Clang, which
                                                       # builds the Windows wheels

Builds the extension twice from this tree, in a temporary directory (or --build-dir,
reused when it holds both builds): once as it is and once with CFLAGS=-DGMM_PORTABLE,
the plain C99 loops with no vector extensions and no dispatch that MSVC compiles.
Then, for each repeat, a fresh process per build and instruction set fits every
workload and covariance type from the same fixed start (tol=0) and takes the time
per iteration as (t(m_hi) - t(m_lo)) / (m_hi - m_lo), so that set-up cancels out:
the plain-C build, and the vector build capped by GMMCORE_SIMD at its baseline
(x86-64: SSE2), AVX2+FMA and AVX-512 where the CPU has them.  Medians over --repeat;
the processes of one repeat run one after another, the builds interleaved, so that
a busy moment of a shared machine falls on all of them alike.  All threads (the
package default).  Needs setuptools, Cython, numpy and scipy (the build
requirements) and a C compiler.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = {
    "W1": dict(n=1_000_000, d=4, k=8),
    "W2": dict(n=200_000, d=32, k=16),
}
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
LEVELS = ("generic", "avx2", "avx512")

CHILD = r"""
import json, sys, time, warnings
import numpy as np
import gmmcore._kernels as k
from gmmcore import GaussianMixture

workloads, dtypes, cov_types, m_lo, m_hi = json.loads(sys.argv[1])
out = {"level": k.SIMD_LEVEL, "portable": bool(k.SIMD_PORTABLE), "times": {}}
for name, w in workloads.items():
    rng = np.random.default_rng(0)
    n, d, kc = w["n"], w["d"], w["k"]
    centres = rng.normal(scale=3.0, size=(kc, d))
    X64 = centres[rng.integers(kc, size=n)] + rng.normal(size=(n, d))
    for dtype in dtypes:
        X = X64.astype(dtype)
        for ct in cov_types:
            prec = {"full": np.broadcast_to(np.eye(d), (kc, d, d)).copy(), "tied": np.eye(d),
                    "diag": np.ones((kc, d)), "spherical": np.ones(kc)}[ct]
            start = dict(weights_init=np.full(kc, 1.0 / kc), means_init=centres + 0.5,
                         precisions_init=prec)
            t = {}
            for m in (m_lo, m_hi):
                g = GaussianMixture(kc, covariance_type=ct, max_iter=m, tol=0.0, **start)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    g.fit(X)
                    t[m] = time.perf_counter() - t0
            out["times"][f"{name}|{dtype}|{ct}"] = (t[m_hi] - t[m_lo]) / (m_hi - m_lo)
print(json.dumps(out))
"""


def build(build_dir, portable, cc=None):
    """An in-place build of the extension in a copy of the sources, by the compiler
    cc (None: setuptools' choice); its src/ path."""
    tree = build_dir / (("portable" if portable else "vector") + (f"-{cc}" if cc else ""))
    src = tree / "src"
    if any(path.suffix in (".so", ".pyd") for path in (src / "gmmcore").glob("_kernels.*")):
        return src
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, tree / name)
    ignore = shutil.ignore_patterns("*.so", "*.pyd", "_kernels.c", "__pycache__", "build")
    shutil.copytree(ROOT / "src", src, ignore=ignore)
    shutil.copytree(ROOT / "csrc", tree / "csrc", ignore=ignore)
    env = dict(os.environ)
    env["CFLAGS"] = (env.get("CFLAGS", "") + " -DGMM_PORTABLE").strip() if portable else \
        env.get("CFLAGS", "").replace("-DGMM_PORTABLE", "")
    if cc:
        env["CC"], env["LDSHARED"] = cc, f"{cc} -shared"
    label = "plain-C" if portable else "vector"
    print(f"building the {label} extension in {tree}", file=sys.stderr)
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree,
                          env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {label} build failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return src


def measure(src, level, args):
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("GMMCORE_SIMD", None)
    if level is not None:
        env["GMMCORE_SIMD"] = level
    spec = [{w: WORKLOADS[w] for w in args.workloads}, args.dtypes, args.covariance_types,
            args.m_lo, args.m_hi]
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=env,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", type=lambda s: s.split(","), default=list(WORKLOADS))
    parser.add_argument("--dtypes", type=lambda s: s.split(","), default=["float64", "float32"])
    parser.add_argument("--covariance-types", type=lambda s: s.split(","),
                        default=list(COVARIANCE_TYPES))
    parser.add_argument("--m-lo", type=int, default=2)
    parser.add_argument("--m-hi", type=int, default=8)
    parser.add_argument("--cc", default=None,
                        help="the C compiler of both builds (default: setuptools' choice)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="keep the two builds here (default: a temporary directory)")
    args = parser.parse_args()

    build_dir = args.build_dir or Path(tempfile.mkdtemp(prefix="gmmcore-bench-portable-"))
    sources = {"plain C": build(build_dir, portable=True, cc=args.cc)}
    vector = build(build_dir, portable=False, cc=args.cc)

    runs = {"plain C": (sources["plain C"], None)}
    for level in LEVELS:  # the levels this CPU has: a cap above them changes nothing
        got = measure(vector, level, argparse.Namespace(
            workloads=[], dtypes=[], covariance_types=[], m_lo=1, m_hi=2))["level"]
        if got == level:
            runs[level] = (vector, level)
    check = measure(sources["plain C"], None, argparse.Namespace(
        workloads=[], dtypes=[], covariance_types=[], m_lo=1, m_hi=2))
    assert check["portable"], "the plain-C build is not the portable one"

    times = {name: {} for name in runs}
    t0 = time.perf_counter()
    for r in range(args.repeat):
        for name, (src, level) in runs.items():
            out = measure(src, level, args)
            for key, value in out["times"].items():
                times[name].setdefault(key, []).append(value)
            print(f"repeat {r + 1}/{args.repeat}: {name} done "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    names = list(runs)
    vector_names = [n for n in names if n != "plain C"]
    header = (["workload", "dtype", "covariance"]
              + [f"{n} s/iter" for n in names]
              + [f"plain C ÷ {n}" for n in vector_names])
    print(f"\nper EM iteration, medians of {args.repeat}, all threads ({os.cpu_count()} cores);"
          f" vector levels: {', '.join(vector_names)}; compiler: {args.cc or 'default'}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * 3 + "---:|" * (len(header) - 3))
    for key in times["plain C"]:
        workload, dtype, ct = key.split("|")
        w = WORKLOADS[workload]
        med = {n: statistics.median(times[n][key]) for n in names}
        row = [f"{workload} n={w['n']:,} d={w['d']} k={w['k']}", dtype, ct]
        row += [f"{med[n]:.4f}" for n in names]
        row += [f"{med['plain C'] / med[n]:.2f}×" for n in vector_names]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
