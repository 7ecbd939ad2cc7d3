"""Batch commands on a Dask cluster write what a local run writes, and lose nothing when a
worker dies; without --scheduler Dask is not imported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from chromatool.cli import app

from conftest import SR, tone

distributed = pytest.importorskip("distributed")
runner = CliRunner()


# A hang anywhere in Dask fails the test with every thread's stack, never the whole run.
pytestmark = pytest.mark.timeout(300)


def _local_cluster():
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                     memory_limit=0, silence_logs=40)  # no memory pausing: a paused worker would stall the run
    return c, Client(c, timeout="60s")


@pytest.fixture(scope="module")
def cluster():
    c, client = _local_cluster()
    with c, client:
        yield c.scheduler_address, client


@pytest.fixture
def own_cluster():
    """A cluster of its own for a test that kills one of its workers: the shared one stays whole."""
    c, client = _local_cluster()
    with c, client:
        yield c.scheduler_address, client


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    for i in range(8):
        (d / f"s{i % 2}").mkdir(parents=True, exist_ok=True)
        sf.write(d / f"s{i % 2}" / f"x{i}.wav", tone([60 + i, 64 + i], seconds=5.0, harmonics=3), SR)
    return d


def _tree(root):
    out = {}
    for p in sorted(root.rglob("*")):
        if p.suffix == ".npy":
            out[str(p.relative_to(root))] = np.load(p)
        elif p.suffix == ".json":
            out[str(p.relative_to(root))] = json.loads(p.read_text())
    return out


def _same(a, b):
    assert a.keys() == b.keys() and a
    for k in a:
        if k.endswith(".npy"):  # the same bits: Dask workers run one BLAS thread, this process two
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k]


def test_features_on_the_cluster_write_what_a_local_run_writes(cluster, folder, tmp_path):
    address, _ = cluster
    local = runner.invoke(app, ["features", str(folder), "-o", str(tmp_path / "local"), "--tuning", "0"])
    remote = runner.invoke(app, ["features", str(folder), "-o", str(tmp_path / "remote"), "--tuning", "0",
                                 "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    _same(_tree(tmp_path / "local"), _tree(tmp_path / "remote"))
    # --skip-existing on the cluster: nothing is recomputed, the summary says so
    again = runner.invoke(app, ["features", str(folder), "-o", str(tmp_path / "remote"), "--tuning", "0",
                                "--scheduler", address, "--skip-existing"])
    assert again.exit_code == 0 and "8 skipped" in again.output
    refused = runner.invoke(app, ["features", str(folder), "-o", str(tmp_path / "remote"), "--scheduler", address])
    assert refused.exit_code == 1 and "--overwrite" in refused.output


def test_a_worker_killed_mid_run_loses_no_file(own_cluster, folder, tmp_path):
    from chromatool.featurize import plan_feature_tasks, run_feature_tasks

    address, client = own_cluster
    pids = client.run(os.getpid)  # worker address → process id
    tasks, _ = plan_feature_tasks([folder], tmp_path / "out", kind="hcqt", feature_rate=25.0, device="cpu",
                                  fmt="npy", overwrite=False, tuning=0)
    killed = []

    def on_done(i, result):
        if not killed:  # the first file is done: kill a worker while the others run
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    report = run_feature_tasks(tasks, on_done=on_done, scheduler=address)
    client.wait_for_workers(2, timeout=120)  # the nanny's replacement is up: the cluster closes whole
    assert killed and report.failures == []
    assert len(report.written) == 16 and all(p.exists() for p in report.written)
    reference, _ = plan_feature_tasks([folder], tmp_path / "ref", kind="hcqt", feature_rate=25.0, device="cpu",
                                      fmt="npy", overwrite=False, tuning=0)
    run_feature_tasks(reference[:2])
    _same(_tree(tmp_path / "ref"), {k: v for k, v in _tree(tmp_path / "out").items()
                                    if k.split("/")[0] == "s0" and k.split("/")[1][:2] in ("x0", "x2")})


def test_index_build_and_extract_on_the_cluster(cluster, folder, tmp_path):
    address, _ = cluster
    r = runner.invoke(app, ["index", "build", str(folder), "-o", str(tmp_path / "a.ctx"), "--tuning", "0",
                            "--cache", str(tmp_path / "cache"), "--scheduler", address])
    assert r.exit_code == 0, r.output
    info = json.loads(runner.invoke(app, ["index", "info", str(tmp_path / "a.ctx"), "--json"]).stdout)
    assert info["documents"] == 8
    r = runner.invoke(app, ["extract", str(folder), "-o", str(tmp_path / "x"), "--tuning", "0",
                            "--scheduler", address])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "x").rglob("*.npy"))) == 8


def test_scheduler_errors_and_no_dask_without_it(folder, tmp_path):
    r = runner.invoke(app, ["features", str(folder), "-o", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9",
                            "--tuning", "0"])
    assert r.exit_code == 1 and "--scheduler" in r.output and "cannot reach" in r.output
    r = runner.invoke(app, ["features", str(folder), "-o", str(tmp_path / "o"), "--scheduler", "tcp://x:1", "-j", "2"])
    assert r.exit_code == 2 and "--jobs" in r.output
    code = ("import sys; sys.argv = ['chromatool', 'features', sys.argv[1], '-o', sys.argv[2], '--tuning', '0']\n"
            "from chromatool.cli import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(tmp_path / "p")], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]" and (tmp_path / "p" / "s0" / "x0.npy").exists()


def test_align_folders_on_the_cluster_as_locally(cluster, tmp_path):
    from music21 import corpus

    from chromatool.render import synthesize, to_pretty_midi
    from chromatool.score import read_score

    address, _ = cluster
    (tmp_path / "scores").mkdir()
    (tmp_path / "audio").mkdir()
    for name in ("bwv66.6", "bwv1.6"):
        notes = read_score(corpus.getWork("bach/" + name))
        notes = notes.select(notes.onset < 12)
        to_pretty_midi(notes).write(str(tmp_path / "scores" / f"{name}.mid"))
        sf.write(tmp_path / "audio" / f"{name}.wav", synthesize(notes.time_scaled(1.1)), SR)
    args = ["align", str(tmp_path / "scores"), str(tmp_path / "audio"), "--synthesis", "notes", "--tuning", "0"]
    local = runner.invoke(app, [*args, "-o", str(tmp_path / "local")])
    remote = runner.invoke(app, [*args, "-o", str(tmp_path / "remote"), "--scheduler", address])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    for name in ("bwv66.6", "bwv1.6"):
        a = (tmp_path / "local" / f"{name}.csv").read_text()
        b = (tmp_path / "remote" / f"{name}.csv").read_text()
        assert a == b and len(a.splitlines()) > 20
