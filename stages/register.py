"""DVC stage: register the default's best G_ema and give it the `champion` alias.

    python -m stages.register --params params.yaml [--models models] [--fid no_trunc]
        [--out metrics/registry.json]

Candidates: the Table 2 variants of params (all variants when none is in Table 2), every
seed, as trained into <models>/<variant>/s<seed>/ (model.json names the MLflow run). The one
with the lowest FID (`--fid`: no_trunc | min_fid from the sweep stage, fid_best from training)
becomes a version of params' tracking.registered_model; it is `champion` when there is none
or when it beats the current one (biggan.tracking.registry). Output: <out>, the decision.
Exit status: 0 done; 2 bad params, no candidate, or the tracking store unreachable.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.register", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--models", default="models", help="model root (default: models)")
    p.add_argument("--fid", default="no_trunc", help="no_trunc | min_fid | fid_best (default: no_trunc)")
    p.add_argument("--out", default="metrics/registry.json", help="decision file (default: metrics/registry.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from biggan.config import ConfigError, load_params
    from biggan.tracking.mlflow_run import TrackingUnavailable, check_reachable, redact, resolve_uri
    from biggan.tracking.registry import register_best
    from biggan.files import write_json

    args = parse_args(argv)
    try:
        params = load_params(args.params)
        chosen = [v for v, e in params.variants.items() if 2 in e.tables] or list(params.variants)
        dirs = {f"{v}-s{s}": Path(args.models) / v / f"s{s}" for v in chosen for s in params.seeds_of(v)}
        uri = resolve_uri(params.tracking.uri, Path.cwd())
        check_reachable(uri)
        best, d = register_best(uri, params.tracking.registered_model, dirs, args.fid)
    except (ConfigError, TrackingUnavailable, LookupError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_json(Path(args.out), {"candidate": best["label"], "tracking_uri": redact(uri), **d.as_dict()})
    print(f"{d.model_name} version {d.version} ({best['label']}, {args.fid} FID {d.challenger_fid}): "
          f"{d.decision}; champion is version {d.champion_after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
