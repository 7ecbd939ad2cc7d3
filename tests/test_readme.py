"""Every README example whose inputs exist here is re-run as printed, and its output compared.

A ``$ command`` line in a bash block is followed by the output it prints; ``...`` in the output
stands for any text (shortened paths). Commands with ``...`` in them, or naming files that only
exist on the reader's machine, are illustrations and are not run. The commands run in a scratch
folder beside a link to ../shared, so relative paths work as printed and nothing lands in the
repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent


def examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of every ``$`` line in the README's bash blocks."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        cmd, want = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if cmd:
                    out.append((cmd, want))
                cmd, want = line[2:], []
            elif cmd is not None and line.startswith("      "):  # a continued command
                cmd = cmd.rstrip("\\ ") + " " + line.strip()
            elif cmd is not None:
                want.append(line)
        if cmd:
            out.append((cmd, want))
    return out


def runnable(cmd: str, cwd: Path) -> bool:
    if "..." in cmd:
        return False
    words = [w for w in re.split(r"[\s|>]+", cmd.split("#")[0]) if w]
    paths = [w for w in words if "/" in w and not w.startswith(("-", "'", '"')) and "(" not in w]
    return all((cwd / p).exists() for p in paths if p.startswith("../")) and not any(
        w.endswith((".mid", ".wav", ".flac", ".musicxml")) and not (cwd / w).exists() for w in words)


def matches(want: list[str], got: list[str]) -> bool:
    if len(want) != len(got):
        return False
    for w, g in zip(want, got):
        pattern = "^" + ".*".join(re.escape(part) for part in w.rstrip().split("...")) + "$"
        if not re.match(pattern, g.rstrip()):
            return False
    return True


def test_readme_examples_print_what_the_readme_shows(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    (tmp_path / "shared").symlink_to(SHARED)
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "200",
           "CHROMATOOL_CACHE": str(tmp_path / "cache")}
    checked, failures = 0, []
    for cmd, want in examples((ROOT / "README.md").read_text()):
        if not runnable(cmd, cwd):
            continue
        p = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd.replace('python ', sys.executable + ' ')}"],
                           capture_output=True, text=True, cwd=cwd, env=env)
        got = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()]  # as a terminal shows them
        checked += 1
        if not matches([w for w in want if w.strip()], got):
            failures.append(f"$ {cmd}\nwant:\n" + "\n".join(want) + "\ngot:\n" + "\n".join(got))
    assert checked >= 8
    assert not failures, "\n\n".join(failures)
