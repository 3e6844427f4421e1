"""The stream_mlc.core.metrics modules themselves: their doctests, and that they import only the standard library."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

from stream_mlc.core import metrics as metrics_module


def test_module_doctests_pass():
    result = doctest.testmod(metrics_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_module_imports_only_the_standard_library():
    # metrics.py and the modules it is split into (metrics_event, metrics_window, metrics_summary),
    # which may import one another.
    paths = sorted(Path(metrics_module.__file__).parent.glob("metrics*.py"))
    assert len(paths) > 1
    allowed = {"__future__", "bisect", "collections", "itertools", "math", "operator", "typing"}
    for path in paths:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        own = {name for name in imported if name.startswith("stream_mlc.core.metrics")}
        outside = {name.split(".")[0] for name in imported - own}
        assert outside <= allowed, (path.name, outside - allowed)
