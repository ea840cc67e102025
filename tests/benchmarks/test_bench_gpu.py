"""benchmarks/bench_gpu.py keeps working without a GPU: its tiny configuration, end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_gpu import peak_tflops

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_run_writes_its_table_and_json(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_gpu", "--tiny", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == r
    assert r["device"] == "cpu" and r["tiny"] and (r["resolution"], r["ch"], r["batch"]) == (32, 4, 2)
    assert [s["mode"] for s in r["steps"]] == ["fp32", "bf16"]
    assert r["flops_per_step"] > 0
    for s in r["steps"]:
        assert s["step_s"] > 0 and s["mfu"] is None
        assert s["images_per_s"] == pytest.approx(r["batch"] * r["num_d_steps"] / s["step_s"])
        assert f"  {s['mode']}" in proc.stdout
    assert r["inception"]["images_per_s"] > 0 and "Inception v3 features" in proc.stdout


def test_peaks_by_device_name():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16+compile") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe", "bf16") == 756.0
    assert peak_tflops("NVIDIA H200", "bf16") == 989.4
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "fp32") == 156.0     # cuDNN's TF32 convolutions (default)
    assert peak_tflops("Tesla T4", "bf16") is None
