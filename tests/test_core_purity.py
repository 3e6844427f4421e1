"""The core is pure: it imports nothing from Faust, Kafka or the service shell, and opens no files."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stream_mlc

CORE = Path(stream_mlc.__file__).parent / "core"
SHELL = ("faust", "aiokafka", "kafka", "mode", "prometheus_client", "socket", "subprocess", "stream_mlc.service",
         "stream_mlc.cli")


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def test_no_core_module_imports_the_shell_or_opens_a_file():
    found = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.name}: import {name}" for name in _imports(tree)
                  if any(name == shell or name.startswith(shell + ".") for shell in SHELL)]
        found += [f"{path.name}:{node.lineno}: open()" for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"]
    assert found == []


def test_importing_every_core_module_loads_neither_faust_nor_kafka():
    modules = sorted("stream_mlc.core." + ".".join(path.relative_to(CORE).with_suffix("").parts)
                     for path in CORE.rglob("*.py") if path.name != "__init__.py")
    code = (f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'aiokafka', 'kafka', 'mode')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
