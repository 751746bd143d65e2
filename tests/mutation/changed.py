"""mutmut names of the functions whose source differs between two copies of the tree.

Usage: python tests/mutation/changed.py OLD_ROOT NEW_ROOT models/values.py ... -> one pattern per
line (e.g. models.verdict.x_list_reasons__mutmut_*), for `run.sh recheck`: every mutant of a
changed function has to run again, its old results belong to other code.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def functions(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text("utf-8"))
    module = ".".join(path.with_suffix("").parts[-2:])
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[f"{module}.x_{node.name}"] = ast.dump(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"{module}.xǁ{node.name}ǁ{item.name}"] = ast.dump(item)
    return out


def main(old_root: str, new_root: str, *files: str) -> int:
    for name in files:
        old, new = functions(Path(old_root) / name), functions(Path(new_root) / name)
        for fn in sorted(set(old) | set(new)):
            if old.get(fn) != new.get(fn):
                print(f"{fn}__mutmut_*")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
