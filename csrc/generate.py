"""Generate the vectorised loops of csrc/simd/ from their Tempita templates.

Each family of loops is one template, ``csrc/simd/<family>.c.tp`` (or ``.h.tp``),
written once and expanded per element type and vector width, as scikit-learn and
SciPy generate theirs: every generated line is in a file a compiler, debugger,
profiler or valgrind can point at (the loops were multi-line macros before).  Every
template is prefixed with the shared definitions of ``csrc/simd/defs.tp``.  The
output is re-indented by brace depth, so that the generated files read as written.

    python csrc/generate.py      # setup.py runs this before it builds

A file is rewritten only when its text changes, so that builds stay incremental.
"""

import pathlib
import re

from Cython import Tempita

SIMD = pathlib.Path(__file__).resolve().parent / "simd"
NOTE = "/* Generated from {name} by csrc/generate.py: edit the template, not this file. */\n"
_CONTROL = re.compile(r"^(for|if|while|else if)\b.*\)$|^else$|^do$")
_STRINGS = re.compile(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'')


def _code_of(line):
    """The line without string and character literals and comments."""
    line = _STRINGS.sub('""', line)
    line = re.sub(r"/\*.*?\*/", "", line)
    return line.split("//")[0].split("/*")[0]


def reindent(text):
    """C text re-indented four spaces per brace level, one more per pending
    single-statement body of a for/if/while/else, two more inside open parentheses;
    comments and preprocessor lines are kept as they are (directives at column 0),
    runs of blank lines collapse to one."""
    out, depth, parens, pending, in_comment = [], 0, 0, [], False
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        if in_comment:
            out.append("    " * depth + (" " + line if line.startswith("*") else "   " + line))
            in_comment = "*/" not in line
            continue
        if line.startswith("#"):
            out.append(line)
            continue
        line = re.sub(r"\)\s{2,}\{$", ") {", line)
        code = _code_of(line).strip()
        level = depth - (1 if code.startswith("}") else 0) + len(pending)
        braced = pending and code.startswith("{")
        if braced:
            level -= 1  # the body's own brace, on a line of its own: the block indents
        out.append("    " * (level + (2 if parens > 0 else 0)) + line)
        if braced:
            pending.pop()
        if line.startswith("/*") and "*/" not in line:
            in_comment = True
        opened = code.count("{") - code.count("}")
        depth += opened
        parens = max(0, parens + code.count("(") - code.count(")"))
        if parens:
            continue
        if _CONTROL.match(code):
            pending.append(depth)
        elif code.endswith(";") or code.endswith("}"):
            # a statement ended: so did the pending bodies it completes
            while pending and depth <= pending[-1]:
                pending.pop()
    return "\n".join(out).rstrip() + "\n"


def generate(directory=SIMD):
    """Write every template's output next to it; returns the paths written or kept."""
    defs = (directory / "defs.tp").read_text()
    outputs = []
    for template in sorted(directory.glob("*.tp")):
        if template.name == "defs.tp":
            continue
        expanded = Tempita.Template(defs + template.read_text(), name=template.name).substitute()
        text = NOTE.format(name=template.name) + reindent(expanded)
        target = template.with_suffix("")
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        outputs.append(target)
    return outputs


if __name__ == "__main__":
    for path in generate():
        print(path)
