"""Running against an existing cluster: a real ``dask scheduler`` and ``dask worker`` processes
started from the command line on loopback; the w2v-dist version check; TLS."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from w2v_dist.cli import main
from w2v_dist.evaluation import evaluate
from w2v_dist.output import OUTPUT_FILES
from w2v_dist.vectors import WordVectors

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args) -> list[str]:
    exe = BIN / "dask"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "dask", *args]


def _stop(procs):
    """Terminate the process groups we started (nanny + worker), then kill what is left."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def _start_cluster(tmp, workers_env, log_name):
    """A scheduler and one ``dask worker`` per entry of ``workers_env`` ((name, extra env) pairs).

    Returns (address, [Popen]); the caller stops them with :func:`_stop`."""
    from distributed import Client

    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = []
    log = open(tmp / f"{log_name}.log", "wb")  # noqa: SIM115 - closed with the processes
    try:
        procs.append(subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                                            "--no-dashboard", "--no-show"),
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for name, extra in workers_env:
            env = {**os.environ, **extra}
            procs.append(subprocess.Popen(_dask("worker", addr, "--nthreads", "1", "--nworkers", "1",
                                                "--name", name, "--no-dashboard", "--host", "127.0.0.1",
                                                "--local-directory", str(tmp / f"dask-{name}")),
                                          stdout=log, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))
        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(addr, timeout="5s") as c:
                    c.wait_for_workers(len(workers_env), timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise
                time.sleep(0.5)
        return addr, procs
    except BaseException:
        _stop(procs)
        raise


@pytest.fixture(scope="module")
def dask_cli_cluster(tmp_path_factory):
    """``dask scheduler`` + two ``dask worker --nthreads 1`` processes on loopback."""
    tmp = tmp_path_factory.mktemp("cluster")
    addr, procs = _start_cluster(tmp, [("w0", {}), ("w1", {})], "cluster")
    try:
        yield addr
    finally:
        _stop(procs)


def _pipeline(tmp_path, corpus, eval_dir, out):
    p = tmp_path / "tiny.toml"
    p.write_text(f"""
[input]
urls = [{json.dumps(str(corpus))}]
[train]
sg = 1
epochs = 2
vector_size = 32
sync_every = 50000
[cluster]
workers = 1
[evaluate]
word_pairs = [{json.dumps(str(eval_dir / "wordsim353.tsv"))}]
[output]
url = {json.dumps(str(out))}
""")
    return p


def test_run_pipeline_on_dask_cli_cluster(tmp_path, small_corpus, eval_dir, dask_cli_cluster):
    """``w2v-dist run PIPELINE --scheduler ADDR`` (the console script, as a user types it) trains on
    both workers of the external cluster, shows progress, and writes the outputs."""
    out = tmp_path / "model"
    toml = _pipeline(tmp_path, small_corpus, eval_dir, out)
    exe = BIN / "w2v-dist"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "w2v_dist.cli"]
    proc = subprocess.run([*cmd, "run", str(toml), "--scheduler", dask_cli_cluster],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"connected to the Dask scheduler at {dask_cli_cluster} (2 workers)" in proc.stderr
    assert "training rounds" in proc.stderr  # the tqdm bar: the CLI stayed attached
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    m = json.loads((out / "metrics.json").read_text())
    # [cluster] workers = 1 in the TOML is a LocalCluster shape; the external cluster has 2 workers
    assert m["workers"] == 2 and m["threads_per_worker"] == [1, 1]
    assert m["config"]["scheduler"] == dask_cli_cluster
    assert m["rounds"] == 2 * m["rounds_per_epoch"]
    # the two workers run on this machine: they train one replica in shared memory, merge nothing
    assert m["shared_replica"] and all(r["bytes_to_driver"] == 0 for r in m["round_stats"])
    assert sum(r["raw_words"] for r in m["round_stats"]) == 2 * m["train_words"] and min(m["replica_words"]) > 0
    wv = WordVectors.load_word2vec_format(str(out / "vectors.bin"))
    assert len(wv) == m["vocab_size"] and wv.vector_size == 32
    res = evaluate(wv, word_pairs=[str(eval_dir / "wordsim353.tsv")])
    assert res["wordsim353_spearman"] == pytest.approx(m["evaluation"]["wordsim353_spearman"], abs=1e-6)


def test_dask_scheduler_address_environment(tmp_path, small_corpus, dask_cli_cluster, monkeypatch, capsys):
    """With no --scheduler, ``DASK_SCHEDULER_ADDRESS`` names the cluster (else a 1-worker LocalCluster)."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_cli_cluster)
    out = tmp_path / "env"
    code = main(["--quiet", "train", str(small_corpus), "--output", str(out), "--epochs", "1",
                 "--vector-size", "16", "--sync-every", "100000"])
    assert code == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["workers"] == 2 and m["config"]["scheduler"] is None
    wv = WordVectors.load_word2vec_format(str(out / "vectors.txt"))
    assert wv.vectors.dtype == np.float32 and np.isfinite(wv.vectors).all()


@pytest.fixture(scope="module")
def mismatched_cluster(tmp_path_factory):
    """Two workers whose Python finds a different w2v_dist first on PYTHONPATH: one where the
    package is missing (its import fails), one with another version."""
    tmp = tmp_path_factory.mktemp("stubs")
    for name, body in (("missing", "raise ModuleNotFoundError(\"No module named 'w2v_dist'\", name='w2v_dist')\n"),
                       ("old", "__version__ = '0.0.1'\n")):
        pkg = tmp / name / "w2v_dist"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(body)
    addr, procs = _start_cluster(tmp, [("stub-missing", {"PYTHONPATH": str(tmp / "missing")}),
                                       ("stub-old", {"PYTHONPATH": str(tmp / "old")})], "stubs")
    try:
        yield addr
    finally:
        _stop(procs)


def test_workers_without_the_same_w2v_dist_are_named(tmp_path, small_corpus, mismatched_cluster, capsys):
    import w2v_dist

    out = tmp_path / "never"
    code = main(["--quiet", "train", str(small_corpus), "--output", str(out), "--scheduler", mismatched_cluster])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    line = err[0]
    assert line.startswith("w2v-dist: error: ") and f"w2v-dist {w2v_dist.__version__}" in line
    assert "stub-missing" in line and "not installed" in line
    assert "stub-old" in line and "w2v-dist 0.0.1" in line
    assert "2 of 2" in line
    assert not out.exists()


def test_matching_workers_pass_the_version_check(dask_cli_cluster):
    from distributed import Client

    import w2v_dist
    from w2v_dist.cluster import check_worker_versions

    with Client(dask_cli_cluster) as c:
        got = check_worker_versions(c)
    assert sorted(got.values()) == [w2v_dist.__version__] * 2


def test_tls_scheduler_from_cli_options(tmp_path, small_corpus, capsys):
    """A TLS-only scheduler is reached with --tls-ca-file/--tls-cert/--tls-key, and refused without."""
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    sec = Security.temporary()  # self-signed CA, cert and key, held in memory as PEM text
    files = {}
    for name, pem in (("ca", sec.tls_ca_file), ("cert", sec.tls_client_cert), ("key", sec.tls_client_key)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(pem)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", security=sec,
                      dashboard_address=":0", host="127.0.0.1") as cluster:
        addr = cluster.scheduler_address
        assert addr.startswith("tls://")
        out = tmp_path / "tls"
        code = main(["--quiet", "train", str(small_corpus), "--output", str(out), "--scheduler", addr,
                     "--tls-ca-file", str(files["ca"]), "--tls-cert", str(files["cert"]),
                     "--tls-key", str(files["key"]), "--epochs", "1", "--vector-size", "16"])
        assert code == 0, capsys.readouterr().err
        m = json.loads((out / "metrics.json").read_text())
        assert m["workers"] == 1 and m["config"]["tls_ca_file"] == str(files["ca"])
        assert "BEGIN" not in json.dumps(m)  # file names only, never key material

        with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
            code = main(["--quiet", "train", str(small_corpus), "--output", str(tmp_path / "plain"),
                         "--scheduler", addr])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and addr in err[0] and "--tls-ca-file" in err[0], err
        assert not (tmp_path / "plain").exists()


def test_tls_option_errors(tmp_path, small_corpus, capsys):
    key = tmp_path / "k.pem"
    key.write_text("x")
    code = main(["--quiet", "train", str(small_corpus), "--output", str(tmp_path / "o"), "--tls-key", str(key)])
    err = capsys.readouterr().err
    assert code == 2 and "tls_key" in err and "tls_cert" in err
    code = main(["--quiet", "train", str(small_corpus), "--output", str(tmp_path / "o"),
                 "--tls-ca-file", str(tmp_path / "missing-ca.pem")])
    err = capsys.readouterr().err
    assert code == 2 and "missing-ca.pem" in err
    assert not (tmp_path / "o").exists()


ROOT = Path(__file__).resolve().parents[1]


def test_slurm_example_writes_a_job_script_with_one_worker_per_job():
    proc = subprocess.run([sys.executable, str(ROOT / "cluster" / "slurm.py"), str(ROOT / "pipelines" / "demo.toml"),
                           "--print-script", "--cores", "6", "--memory", "12GB", "--queue", "q1", "--account", "acct",
                           "--prologue", "/venv/bin/activate"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    script = proc.stdout
    assert "#SBATCH -p q1" in script and "#SBATCH -A acct" in script and "#SBATCH --cpus-per-task=6" in script
    assert "source /venv/bin/activate" in script and "NUMBA_CACHE_DIR" in script
    worker = [line for line in script.splitlines() if "dask_worker" in line or "dask worker" in line]
    assert len(worker) == 1 and "--nthreads 6" in worker[0] and "--nworkers" not in worker[0]


def test_kubernetes_manifest_and_cluster_pipeline():
    import yaml

    from w2v_dist.config import load_pipeline

    doc = yaml.safe_load((ROOT / "cluster" / "daskcluster.yaml").read_text())
    assert doc["apiVersion"] == "kubernetes.dask.org/v1" and doc["kind"] == "DaskCluster"
    worker = doc["spec"]["worker"]["spec"]["containers"][0]
    scheduler = doc["spec"]["scheduler"]["spec"]["containers"][0]
    assert worker["image"] == scheduler["image"]
    assert worker["args"][:2] == ["dask", "worker"] and scheduler["args"] == ["dask", "scheduler"]
    threads = worker["args"][worker["args"].index("--nthreads") + 1]
    assert threads == worker["resources"]["limits"]["cpu"]  # one worker, all the pod's CPUs
    ports = {p["name"] for p in scheduler["ports"]}
    assert {p["targetPort"] for p in doc["spec"]["scheduler"]["service"]["ports"]} <= ports

    pipe = load_pipeline(str(ROOT / "pipelines" / "real-en-s3.toml"))
    pipe.config.validate()
    assert pipe.config.scheduler.startswith("tcp://") and pipe.inputs[0].startswith("s3://")
    assert pipe.output.startswith("s3://") and "secret" not in pipe.storage_options
    over = load_pipeline(str(ROOT / "pipelines" / "real-en-s3.toml"), {"scheduler": "tcp://10.0.0.1:8786"})
    assert over.config.scheduler == "tcp://10.0.0.1:8786"
