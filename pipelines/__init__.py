"""Prefect flows over the DVC pipeline: reproduce (stage by stage), retrain (on new data, with
registry promotion), deploy (a scheduled deployment of retrain)."""
