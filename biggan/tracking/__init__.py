"""MLflow tracking: the driver's run set-up and summary (mlflow_run), rank 0's batched logger (logger)."""
