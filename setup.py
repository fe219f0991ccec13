"""Build the compiled kernels: one Cython extension plus the plain C in csrc/.

Metadata lives in pyproject.toml; this file only declares the extension, because its
include directories come from numpy at build time.
"""
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "gmmcore._kernels",
        sources=["src/gmmcore/_kernels.pyx", "csrc/gmmcore_simd.c"],
        include_dirs=[np.get_include(), "csrc"],
        depends=["csrc/gmmcore_simd.h"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_25_API_VERSION")],
        # -O3 vectorises the per-row loops; never -ffast-math (log-sum-exp needs inf/NaN)
        # and never -march=native (wheels run on any x86-64/aarch64 machine).
        extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
        # no debug symbols in the shipped extension (a third of its size)
        extra_link_args=["-s"] if sys.platform.startswith("linux") else [],
    )
]

setup(
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
    )
)
