"""Build the compiled kernels: one Cython extension plus the C loops in csrc/.

Metadata lives in pyproject.toml; this file only declares the extension, because its
include directories come from numpy at build time, its flags from the compiler, and
its C sources from the Tempita templates of csrc/simd/ (csrc/generate.py).
"""
import os
import pathlib
import shutil
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Compiler flags by compiler, known only once the build has picked one.

    Never fast-math (/fp:fast, -ffast-math): log-sum-exp needs inf and NaN.  Never
    -march=native: wheels run on any x86-64/aarch64 machine.
    """

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            # MSVC's cl has no GNU vector extensions: csrc/ builds its plain-C loops
            # with it.  CC=clang-cl compiles with Clang instead, against MSVC's
            # runtime and linker: the vector loops and their dispatch by CPU, as on
            # Linux (the Windows wheels are built so).  /fp:precise is the default,
            # stated so that no inherited flag changes it.
            compile_args, link_args = ["/O2", "/fp:precise"], []
            _use_clang_cl(self.compiler)
        else:
            # -O3 vectorises the per-row loops.  -fno-trapping-math (Clang's default)
            # lets GCC vectorise loops with selects, such as exp's range cut-offs,
            # without AVX-512's masks: it may compute a value it then discards.  It
            # changes no result (unlike fast-math); no one unmasks FP traps here.
            compile_args = ["-O3", "-fno-trapping-math"]
            # no debug symbols in the shipped extension (a third of its size)
            link_args = ["-s"] if sys.platform.startswith("linux") else []
        # The kernels call sqrt, sqrtf and log: libm, which the interpreter happening to
        # have loaded already must not stand in for (MSVC's C runtime has them).
        libraries = [] if self.compiler.compiler_type == "msvc" else ["m"]
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args
            ext.libraries = ext.libraries + [lib for lib in libraries if lib not in ext.libraries]
        super().build_extensions()


def _use_clang_cl(compiler):
    """Compile with clang-cl when CC names it; MSVC's cl otherwise."""
    cc = os.environ.get("CC", "")
    if pathlib.PureWindowsPath(cc).stem.lower() != "clang-cl":
        return
    if not compiler.initialized:
        compiler.initialize()
    # PATH, then Visual Studio's own tools (its optional "C++ Clang tools"), then
    # the LLVM installer's directory
    llvm = pathlib.Path(os.environ.get("ProgramFiles", r"C:\Program Files"), "LLVM", "bin")
    path = os.pathsep.join([os.environ.get("PATH", ""), getattr(compiler, "_paths", ""), str(llvm)])
    found = shutil.which(cc, path=path)
    if found is None:
        raise RuntimeError(f"CC={cc}: no such compiler on PATH, in Visual Studio or in {llvm}")
    compiler.cc = found
    # /GL (whole-program optimisation) writes MSVC's own intermediate objects,
    # which clang-cl does not
    compiler.compile_options = [opt for opt in compiler.compile_options if opt != "/GL"]


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "csrc"))
from generate import generate  # noqa: E402  (csrc/generate.py, not a package)

# the families of vectorised loops, each generated from its template
generated = [f"csrc/simd/{path.name}" for path in generate() if path.suffix == ".c"]

extensions = [
    Extension(
        "gmmcore._kernels",
        sources=["src/gmmcore/_kernels.pyx", "csrc/gmmcore_simd.c", *generated],
        include_dirs=[np.get_include(), "csrc"],
        depends=["csrc/gmmcore_simd.h", "csrc/gmmcore_covariance.h", "csrc/simd/common.h",
                 "csrc/simd/transpose_tiles.h", "csrc/generate.py",
                 *map(str, sorted(pathlib.Path("csrc/simd").glob("*.tp")))],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION")],
        # threadpoolctl looks these up in the loaded library (_parallel's controller).
        # ELF and Mach-O export every non-static function; a Windows DLL only what it
        # lists (the linker otherwise exports PyInit__kernels alone).
        export_symbols=["gmmcore_get_num_threads", "gmmcore_set_num_threads"],
    )
]

setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "freethreading_compatible": True,
        },
    ),
)
