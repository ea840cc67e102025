"""One claim's record: what the paper says, what our runs measured, the test and its verdict."""
from __future__ import annotations

from biggan.report.collect import RunRecord
from biggan.report.stats import INCONCLUSIVE

Groups = dict[str, list[RunRecord]]


def claim(cid: str, text: str, paper: str, measured: str, test: str, verdict: str, data: dict) -> dict:
    return {"id": cid, "claim": text, "paper": paper, "measured": measured, "test": test, "verdict": verdict,
            "data": data}


def missing(cid: str, text: str, paper: str, what: str) -> dict:
    return claim(cid, text, paper, f"not measured: {what}", "-", INCONCLUSIVE, {})


def f3(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"
