"""Tables to Markdown, CSV and JSON (each file written to a temporary name and renamed)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from biggan.report.tables import Table
from biggan.files import atomic_write


def markdown(t: Table) -> str:
    lines = [f"## {t.title}", "", "| " + " | ".join(t.columns) + " |",
             "|" + "|".join("---" for _ in t.columns) + "|"]
    lines += ["| " + " | ".join(row.get(c, "") for c in t.columns) + " |" for row in t.rows]
    if not t.rows:
        lines.append("| " + " | ".join(["(no variant lists this table)"] + [""] * (len(t.columns) - 1)) + " |")
    lines.append("")
    lines += [f"- {n}" for n in t.notes]
    return "\n".join(lines) + "\n"


def csv_text(t: Table) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=t.columns, lineterminator="\n")
    w.writeheader()
    w.writerows(t.rows)
    return buf.getvalue()


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_tables(tables: list[Table], out_dir: Path, extra: dict | None = None) -> dict[str, Path]:
    """results/<name>.md and .csv per table, then results/tables.json (last: it marks completion)."""
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for t in tables:
        paths[f"{t.name}.md"] = write_text(out_dir / f"{t.name}.md", markdown(t))
        paths[f"{t.name}.csv"] = write_text(out_dir / f"{t.name}.csv", csv_text(t))
    doc = {"tables": {t.name: {"title": t.title, "rows": t.data, "notes": t.notes} for t in tables},
           **(extra or {})}
    paths["tables.json"] = write_text(out_dir / "tables.json", json.dumps(doc, indent=2, sort_keys=True,
                                                                          default=str) + "\n")
    return paths
