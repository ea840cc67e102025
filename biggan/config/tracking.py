"""`tracking:` section: MLflow store, experiment and registry names."""
from __future__ import annotations

from biggan.config.base import Strict


class TrackingConfig(Strict):
    uri: str = "sqlite:///mlflow.db"        # relative sqlite paths resolve against the repo root;
                                            # MLFLOW_TRACKING_URI overrides
    experiment: str = "biggan"
    registered_model: str = "biggan-generator"
    log_model: bool = True
