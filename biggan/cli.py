"""User commands: `python -m biggan <command> ...` (also installed as `biggan`)."""
from __future__ import annotations

import argparse
import json
import sys

from biggan.config import ConfigError, load_params


def _summary(args: argparse.Namespace) -> int:
    from biggan.models import summarize

    params = load_params(args.params)
    names = args.variant or list(params.variants)
    models = {"(base)": params.model} if not args.variant else {}
    models.update({n: params.run(n, params.seeds[0]).model for n in names})
    rows = {name: summarize(cfg).as_dict() for name, cfg in models.items()}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = f"{'model':<24}{'arch':<12}{'res':>5}{'ch':>5}{'G':>14}{'D':>14}{'shared emb':>12}{'Param (M)':>11}"
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        print(f"{name:<24}{r['arch']:<12}{r['resolution']:>5}{r['ch']:>5}{r['g_params']:>14,}{r['d_params']:>14,}"
              f"{r['shared_embedding']:>12,}{r['paper_params_m']:>11.2f}")
    print("\nParam (M) = G + D without the shared embedding (the paper's Table 1 convention).")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from biggan.sampling.commands import sample_command

    return sample_command(args)


def _ui(args: argparse.Namespace) -> int:
    from biggan.tracking.ui import serve

    return serve(args.params, port=args.port, host=args.host)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="biggan", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="parameter counts of G, D and the shared embedding")
    s.add_argument("--params", default="params.yaml", help="params file or preset (configs/*.yaml)")
    s.add_argument("--variant", action="append", help="only this variant (repeatable)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=_summary)
    from biggan.sampling.commands import __doc__ as sample_doc, add_arguments as add_sample_arguments

    s = sub.add_parser("sample", help="sample sheets (PNG) of a trained generator", description=sample_doc,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sample_arguments(s)
    s.set_defaults(func=_sample)
    from biggan.tracking.ui import DEFAULT_HOST, DEFAULT_PORT, __doc__ as ui_doc

    s = sub.add_parser("ui", help="the MLflow UI (tracking server) on the project's store", description=ui_doc,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default: {DEFAULT_PORT}")
    s.add_argument("--params", default="params.yaml", help="params file whose tracking: section names the store")
    s.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default: {DEFAULT_HOST})")
    s.set_defaults(func=_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
