"""The A/B domain is not web code: ab/ never imports serve/, cli/ab.py never imports the web
package, and ``lookalike --help`` / ``lookalike ab --help`` do not load FastAPI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lookalike

SRC = Path(lookalike.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ab_never_imports_serve_or_cli() -> None:
    for path in sorted((SRC / "ab").glob("*.py")):
        bad = {
            n
            for n in _imports(path)
            if n.startswith(("lookalike.serve", "lookalike.cli", "fastapi", "starlette"))
        }
        assert not bad, f"{path.name} imports {bad}"


def test_cli_ab_imports_ab_not_the_web_package() -> None:
    names = {n for n in _imports(SRC / "cli" / "ab.py") if n.startswith("lookalike.")}
    assert any(n.startswith("lookalike.ab") for n in names)
    assert not any(n.startswith("lookalike.serve") for n in names), names


def test_help_does_not_load_the_web_stack() -> None:
    code = (
        "import sys\n"
        "from lookalike.cli import app\n"
        "for args in (['--help'], ['ab', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
