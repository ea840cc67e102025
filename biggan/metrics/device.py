"""The device evaluation runs on: `auto` is CUDA when this process sees a GPU, else the CPU."""
from __future__ import annotations

import torch

DEVICE_HELP = "auto (CUDA when present, else cpu; the default), cpu, cuda or cuda:N"


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' or 'cpu'; any other name is returned as given (torch checks it on use)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
