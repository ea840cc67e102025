"""The page template `dvc plots show` fills, with vega, vega-lite and vega-embed inlined.

DVC's own page loads them from a CDN, so it stays blank on a machine without internet. This
writes a template whose scripts come from the pinned `altair-viewer` package instead (its
bundled vega 5.21, vega-lite 4.17, vega-embed 6.20; our plot templates in .dvc/plots/ use the
vega-lite v4 schema to match). `make venv` runs it; `.dvc/config` points `plots.html_template`
at the result:

    python -m biggan.report.offline_html [.dvc/plots/offline.html]
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPTS = ("vega-5.21.0.js", "vega-lite-4.17.0.js", "vega-embed-6.20.0.js")

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>BigGAN pipeline: DVC plots</title>
%s
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def scripts_dir() -> Path:
    spec = importlib.util.find_spec("altair_viewer")      # located, not imported (it needs altair)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the altair-viewer package is not installed (pyproject.toml pins it)")
    return Path(next(iter(spec.submodule_search_locations))) / "scripts"


def page() -> str:
    d = scripts_dir()
    tags = "\n".join(f"    <script>\n{(d / name).read_text(encoding='utf-8')}\n    </script>" for name in SCRIPTS)
    return PAGE.replace("%s", tags, 1)


def main(argv: list[str] | None = None) -> int:
    from biggan.files import write_bytes

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else ".dvc/plots/offline.html")
    write_bytes(out, page().encode("utf-8"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
