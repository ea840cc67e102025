import numpy as np
import pytest
import torch
from PIL import Image

from biggan.cli import main
from biggan.sampling.commands import SHEETS
from biggan.sampling.load import load_model_dir, load_model_uri

RES = 16


def grid_size(rows: int, cols: int, scale: int, pad: int = 1) -> tuple[int, int]:
    """(width, height) of biggan.sampling.sheets.grid: 1 px gutters around RES x RES tiles."""
    return ((cols * (RES + pad) + pad) * scale, (rows * (RES + pad) + pad) * scale)


def run_sample(capsys, out, *source, extra=()):
    rc = main(["sample", *source, "--out", str(out), "--seed", "1", "--per-class", "3", "--classes", "4",
               "--rows", "2", "--steps", "5", "--scale", "2", *extra])
    return rc, capsys.readouterr()


def check_sheets(out, printed: str, strip_cols: int = 4):
    paths = [out / f"{name}.png" for name in SHEETS]
    assert printed.split() == [str(p) for p in paths]
    expected = {"classes": grid_size(4, 3, 2), "truncation": grid_size(2, strip_cols, 2),
                "z_interpolation": grid_size(2, 5, 2), "class_interpolation": grid_size(2, 5, 2)}
    images = {}
    for name, path in zip(SHEETS, paths):
        with Image.open(path) as im:
            assert im.format == "PNG" and im.mode == "RGB" and im.size == expected[name], name
            images[name] = np.asarray(im)
    return images


def test_sample_from_model_dir(tmp_path, model_dir, capsys):
    rc, cap = run_sample(capsys, tmp_path / "a", "--model", str(model_dir))
    assert rc == 0, cap.err
    a = check_sheets(tmp_path / "a", cap.out)
    # deterministic for a seed; the truncation option changes the class sheet, not the strip
    rc, cap = run_sample(capsys, tmp_path / "b", "--model", str(model_dir), extra=["--truncation", "0.5"])
    assert rc == 0, cap.err
    b = check_sheets(tmp_path / "b", cap.out)
    assert np.array_equal(a["truncation"], b["truncation"]) and not np.array_equal(a["classes"], b["classes"])
    rc, cap = run_sample(capsys, tmp_path / "c", "--model", str(model_dir), extra=["--strip-thresholds", "1,0"])
    assert rc == 0, cap.err
    check_sheets(tmp_path / "c", cap.out, strip_cols=2)


def test_sample_errors_name_the_source(tmp_path, capsys):
    rc, cap = run_sample(capsys, tmp_path / "o", "--model", str(tmp_path / "missing"))
    assert rc == 2 and cap.err.startswith("error:") and str(tmp_path / "missing" / "G_ema.pt") in cap.err
    rc, cap = run_sample(capsys, tmp_path / "o", "--model-uri", "models:/nope@champion",
                         extra=["--tracking-uri", f"sqlite:///{tmp_path / 'absent.db'}"])
    assert rc == 2 and "models:/nope@champion" in cap.err and "absent.db" in cap.err
    assert not (tmp_path / "o").exists()


def test_sample_from_mlflow_model_uri(tmp_path, model_dir, capsys, monkeypatch):
    """The generator logged as the train stage logs it (its model folder as a LoggedModel in a
    SQLite store), registered with the alias `champion`; loaded by URI it samples exactly like
    the model folder."""
    from mlflow import MlflowClient

    from biggan.tracking.mlflow_run import log_generator, open_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    G, _ = load_model_dir(model_dir)
    run_id, _ = open_run(uri, "sampling-test", "tiny-s0", {"variant": "tiny"}, {"seed": 0})
    logged = log_generator(uri, run_id, model_dir, "G_ema", step=0)
    client = MlflowClient(uri)
    client.create_registered_model("tiny-generator")
    # MLflow resolves a `models:/m-...` version source through the *global* client: point it at the store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    version = client.create_model_version("tiny-generator", logged, run_id=run_id)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    client.set_registered_model_alias("tiny-generator", "champion", version.version)

    loaded = load_model_uri("models:/tiny-generator@champion", uri)
    assert not loaded.training
    with torch.no_grad():
        z, y = torch.randn(4, G.dim_z), torch.arange(4)
        assert torch.equal(loaded(z, y), G(z, y))
    rc, cap = run_sample(capsys, tmp_path / "uri", "--model-uri", "models:/tiny-generator@champion",
                         extra=["--tracking-uri", uri])
    assert rc == 0, cap.err
    from_uri = check_sheets(tmp_path / "uri", cap.out)
    rc, cap = run_sample(capsys, tmp_path / "dir", "--model", str(model_dir))
    assert rc == 0
    from_dir = check_sheets(tmp_path / "dir", cap.out)
    assert all(np.array_equal(from_uri[k], from_dir[k]) for k in SHEETS)
    # the run's artifact URI works too; an unknown alias is a clear error
    rc, cap = run_sample(capsys, tmp_path / "runs", "--model-uri", f"runs:/{run_id}/G_ema",
                         extra=["--tracking-uri", uri])
    assert rc == 0, cap.err
    with pytest.raises(FileNotFoundError, match="models:/tiny-generator@nope"):
        load_model_uri("models:/tiny-generator@nope", uri)


def test_model_uri_loads_no_pickle_and_no_code(tmp_path, model_dir, monkeypatch):
    """The logged model holds only the state_dict and model.json; a pickle-format pytorch model
    (what older versions logged, arbitrary code when unpickled) is refused, not unpickled."""
    import mlflow
    import mlflow.pytorch
    from mlflow import MlflowClient

    from biggan.tracking.mlflow_run import global_tracking_uri, log_generator, open_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id, _ = open_run(uri, "sampling-test", "tiny-s0", {"variant": "tiny"}, {"seed": 0})
    logged = log_generator(uri, run_id, model_dir, "G_ema", step=0)
    files = {a.path for a in MlflowClient(uri).list_logged_model_artifacts(logged.split("/")[-1])}
    assert files == {"G_ema.pt", "model.json"}
    G, _ = load_model_dir(model_dir)
    with global_tracking_uri(uri), mlflow.start_run(run_id=run_id):
        pickled = mlflow.pytorch.log_model(G, name="pickled", serialization_format="pickle",
                                           pip_requirements=["torch"]).model_uri
    with pytest.raises(FileNotFoundError, match="not a BigGAN model folder"):
        load_model_uri(pickled, uri)
