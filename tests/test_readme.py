"""Every Python block of README.md runs as pasted.

Each block runs as a script of its own, in a fresh directory holding the small
stand-in data files the README's snippets read (big.csv, features/), with the
installed (or PYTHONPATH's) gmmcore.  A block that imports an optional package the
environment lacks is skipped.
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _imported_modules(code):
    names = re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][\w]*)", code, flags=re.M)
    return sorted(set(names) - {"gmmcore"})


def _stand_in_data(directory):
    rng = np.random.default_rng(0)
    rows = np.vstack([rng.normal(size=(600, 3)) + c for c in (0, 6, 12)])
    np.savetxt(directory / "big.csv", rows, delimiter=",", header="a,b,c", comments="")
    if importlib.util.find_spec("pyarrow") is not None:
        import pandas as pd

        (directory / "features").mkdir()
        for i, part in enumerate(np.array_split(rows, 3)):
            pd.DataFrame(part, columns=["a", "b", "c"]).to_parquet(
                directory / "features" / f"part.{i}.parquet")


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_pasted(index, tmp_path):
    code = BLOCKS[index]
    for module in _imported_modules(code):
        pytest.importorskip(module)
    if "read_parquet" in code:
        pytest.importorskip("pyarrow")
    _stand_in_data(tmp_path)
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(code)
    env = dict(os.environ)
    if env.get("PYTHONPATH"):  # the script runs elsewhere: its entries made absolute
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p)
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=180, env=env)
    assert out.returncode == 0, f"README block {index} failed:\n{code}\n{out.stderr}"
