"""Figures for the code's shape: modules over 400 lines, functions over 60 lines, imports inside
functions, public functions/methods without a return annotation. Usage: python codestats.py [DIR] [-v]"""
import ast
import sys
from pathlib import Path

root = Path(next((a for a in sys.argv[1:] if not a.startswith("-")), "server/mlr_copilot"))
verbose = "-v" in sys.argv
long_modules, long_functions, local_imports, untyped = [], [], [], []
for path in sorted(root.rglob("*.py")):
    text = path.read_text()
    lines = text.count("\n") + 1
    if lines > 400:
        long_modules.append(f"{path}: {lines} lines")
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > 60:
                long_functions.append(f"{path}:{node.lineno} {node.name}: {length} lines")
            if not node.name.startswith("_") and node.returns is None:
                untyped.append(f"{path}:{node.lineno} {node.name}")
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    local_imports.append(f"{path}:{inner.lineno}")
for title, items in (("modules > 400 lines", long_modules), ("functions > 60 lines", long_functions),
                     ("imports inside functions", local_imports),
                     ("public functions without a return type", untyped)):
    print(f"{len(items):5d}  {title}")
    if verbose:
        for item in items:
            print("       ", item)
