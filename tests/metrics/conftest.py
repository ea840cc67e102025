import json

import pytest
import yaml

from stages import feature_net as feature_net_stage


def write_params(path, eval_section: dict) -> str:
    path.write_text(yaml.safe_dump({"datasets": {"digits32": {"source": {"kind": "digits"}, "resolution": 32}},
                                    "eval": eval_section}))
    return str(path)


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory):
    """The real feature_net stage with default settings, run once: -> (out_dir, params path, metrics)."""
    root = tmp_path_factory.mktemp("feature_net")
    out = root / "feature_net"
    params = write_params(root / "params.yaml", {"digits_net": {"out_dir": str(out)},
                                                 "refstats_dir": str(root / "refstats")})
    assert feature_net_stage.main(["--params", params]) == 0
    return out, params, json.loads((out / "metrics.json").read_text())
