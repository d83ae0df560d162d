"""benchmarks/gpu_throughput.py runs only where a GPU is lent, a few minutes at a time (issue 17):
a change that broke it would be found there, at the cost of that time. Its CPU smoke run, here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_throughput.py"


def uncompiled_variants() -> list[str]:
    """The script's own variants but torch.compile's (minutes of compiling on a CPU)."""
    spec = importlib.util.spec_from_file_location("gpu_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [name for name, (_, options) in module.VARIANTS.items() if not options.get("compile")]


def test_the_gpu_throughput_benchmark_runs_every_uncompiled_loop_on_the_cpu(tmp_path):
    out = tmp_path / "results.jsonl"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--images", "300", "--steps", "2", "--warmup", "1", "--sizes", "32"]
    variants = uncompiled_variants()
    subprocess.run([*command, "--out", str(out), "--variants", *variants], check=True, capture_output=True, cwd=tmp_path, timeout=300)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["variant"] for row in rows] == variants
    for row in rows:
        assert "error" not in row, row
        assert row["images_per_s"] > 0 and row["image_size"] == 32
