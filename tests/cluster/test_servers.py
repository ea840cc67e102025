"""Smoke tests of the cluster fixture: each server is real and usable (issue 27's rehearsal harness)."""
from __future__ import annotations

import os

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.cluster


def test_s3_round_trip_and_restart_keeps_objects(cluster):
    s3 = cluster.s3
    fs, path = s3.fs(), f"{s3.bucket}/smoke/blob.bin"
    payload = os.urandom(2**20)
    with fs.open_output_stream(path) as f:
        f.write(payload)
    with fs.open_input_stream(path) as f:
        assert f.read() == payload
    s3.stop()
    with pytest.raises(OSError):                        # really down
        s3.fs().get_file_info(path)
    s3.start()
    with s3.fs().open_input_stream(path) as f:
        assert f.read() == payload


def test_postgres_select_1(cluster):
    with cluster.postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()


def test_mlflow_run_in_postgres_artifact_in_bucket(cluster, tmp_path):
    from mlflow.tracking import MlflowClient
    from pyarrow.fs import FileSelector

    client = MlflowClient(tracking_uri=cluster.mlflow.url)
    exp = client.create_experiment("cluster-smoke")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "loss", 0.5, step=3)
    (tmp_path / "note.txt").write_text("proxied")
    client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))   # over HTTP, no S3 keys here
    client.set_terminated(run.info.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")

    infos = cluster.s3.fs().get_file_info(FileSelector(f"{cluster.s3.bucket}/mlflow", recursive=True))
    found = [i.path for i in infos if i.path.endswith(f"{run.info.run_id}/artifacts/note.txt")]
    assert found, [i.path for i in infos]
    with cluster.s3.fs().open_input_stream(found[0]) as f:
        assert f.read() == b"proxied"
    with cluster.postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cur.fetchall() == [("FINISHED",)]
        cur.execute("SELECT value, step FROM metrics WHERE run_uuid = %s AND key = 'loss'", (run.info.run_id,))
        assert cur.fetchall() == [(0.5, 3)]
    conn.close()


def test_ray_two_nodes_second_outside_checkout_kill_and_restart(cluster):
    nodes = cluster.ray.wait_nodes(2)
    assert sorted(k for n in nodes for k in n["Resources"] if k in ("head", "second")) == ["head", "second"]
    ray = cluster.ray.driver()

    @ray.remote(num_cpus=0, resources={"second": 1})
    def where():
        return os.getcwd(), ray.get_runtime_context().get_node_id(), os.environ.get("PYTHONPATH", "")

    cwd, node, pythonpath = ray.get(where.remote(), timeout=120)
    assert str(REPO_ROOT) not in pythonpath.split(os.pathsep)
    second = next(n["NodeID"] for n in nodes if "second" in n["Resources"])
    assert node == second
    assert not cwd.startswith(str(REPO_ROOT)), cwd
    cluster.ray.kill_second()
    assert [n["Resources"].get("head") for n in cluster.ray.nodes()] == [1.0]
    cluster.ray.start_second()
    assert len(cluster.ray.nodes()) == 2
    assert not ray.get(where.remote(), timeout=120)[0].startswith(str(REPO_ROOT))
