"""The page's copy of the log window (assets/log_window.js, run in Node): live batches apply once,
in order, bounded as the server keeps them; a missed batch is noticed, never shown as a hole."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ASSET = Path(__file__).resolve().parents[3] / "assets" / "log_window.js"


def run_steps(tmp_path: Path, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Feed `steps` ({snapshot, batch}: the two vars as the page last saw them) in order; return
    each resulting {keys, first, seq, missed}."""
    if shutil.which("node") is None:
        # Node is a prerequisite (README): bun comes from npm. A skip would hide this test.
        pytest.fail("node is missing: install Node 20 with npm (see the README's requirements)")
    module = tmp_path / "log_window.mjs"
    module.write_text(ASSET.read_text())
    script = tmp_path / "steps.mjs"
    script.write_text(
        f"import {{ advance, fromSnapshot }} from {json.dumps(module.as_uri())};\n"
        f"const steps = {json.dumps(steps)};\n"
        "let w = fromSnapshot(steps[0].snapshot);\n"
        "const out = [];\n"
        "for (const s of steps) {\n"
        "  const r = advance(w, s.snapshot, s.batch);\n"
        "  w = r.window;\n"
        "  out.push({keys: w.rows.map((row) => row.k), first: w.first, seq: w.seq,"
        " missed: r.missed});\n"
        "}\n"
        "console.log(JSON.stringify(out));\n"
    )
    done = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def rows(*keys: int) -> list[dict[str, str]]:
    return [{"k": str(k)} for k in keys]


def snapshot(seq: int, first: int, *keys: int) -> dict[str, Any]:
    return {"seq": seq, "first": first, "rows": rows(*keys)}


def batch(seq: int, first: int, count: int, *keys: int, reset: bool = False) -> dict[str, Any]:
    return {"seq": seq, "first": first, "count": count, "rows": rows(*keys), "reset": reset}


def test_batches_append_once_in_order_and_keep_the_newest_lines(tmp_path: Path):
    opened = snapshot(1, 100, 1, 2, 3)
    steps: list[dict[str, Any]] = [
        {"snapshot": opened, "batch": None},
        {"snapshot": opened, "batch": batch(2, 100, 5, 4, 5)},
        # The same batch again (a reconnect re-sends the state): applied once.
        {"snapshot": opened, "batch": batch(2, 100, 5, 4, 5)},
        # Bounded at 5 lines: the two oldest go and the first index moves on.
        {"snapshot": opened, "batch": batch(3, 102, 5, 6, 7)},
        # A flood skipped lines: the batch replaces the window.
        {"snapshot": opened, "batch": batch(4, 110, 2, 20, 21, reset=True)},
    ]
    got = run_steps(tmp_path, steps)
    assert [g["keys"] for g in got] == [
        ["1", "2", "3"],
        ["1", "2", "3", "4", "5"],
        ["1", "2", "3", "4", "5"],
        ["3", "4", "5", "6", "7"],
        ["20", "21"],
    ]
    assert [g["first"] for g in got] == [100, 100, 100, 102, 110]
    assert not any(g["missed"] for g in got)


def test_a_missed_batch_is_noticed_and_the_next_snapshot_repairs_the_window(tmp_path: Path):
    opened = snapshot(1, 100, 1, 2)
    steps: list[dict[str, Any]] = [
        {"snapshot": opened, "batch": None},
        # Batch 2 was merged away by a render: batch 3 cannot apply.
        {"snapshot": opened, "batch": batch(3, 100, 4, 4)},
        {"snapshot": snapshot(4, 100, 1, 2, 3, 4), "batch": batch(3, 100, 4, 4)},
        # A snapshot and the batch after it in one render: both apply.
        {"snapshot": snapshot(5, 90, 0, 1, 2, 3, 4), "batch": batch(6, 90, 6, 5)},
        # An old snapshot (re-sent on reconnect) does not undo live lines.
        {"snapshot": opened, "batch": batch(6, 90, 6, 5)},
    ]
    got = run_steps(tmp_path, steps)
    assert [g["missed"] for g in got] == [False, True, False, False, False]
    assert [g["keys"] for g in got] == [
        ["1", "2"],
        ["1", "2"],
        ["1", "2", "3", "4"],
        ["0", "1", "2", "3", "4", "5"],
        ["0", "1", "2", "3", "4", "5"],
    ]
    assert got[-1]["first"] == 90
