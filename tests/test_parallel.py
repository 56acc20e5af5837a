"""Parallel extraction: loky workers, the dask backend on a LocalCluster, progress, local plugins."""
from __future__ import annotations

import os
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_framework.extraction import FeaturePipeline, extract_table
from ser_framework.parallel import map_files
from ser_framework.plugins import get_registry

SR = 16000

LOCAL_PLUGIN = textwrap.dedent('''
    """A local feature plugin: loudness plus the BLAS thread count seen while extracting."""
    import numpy as np
    from ser_framework import hookimpl
    from ser_framework.components import FeatureExtractor


    class BlasProbe(FeatureExtractor):
        name = "blas_probe"
        params = {}

        def extract(self, ctx):
            import threadpoolctl
            blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
            return np.array([float(np.sqrt(np.mean(ctx.y ** 2))), float(max(blas or [0]))])


    @hookimpl
    def register_features(register):
        register(BlasProbe)
''')


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("par_audio")
    rows = []
    for i in range(6):
        t = np.arange(int(0.3 * SR)) / SR
        y = (0.05 * (i + 1) * np.sin(2 * np.pi * (150 + 40 * i) * t)).astype(np.float32)
        p = root / f"c{i}.wav"
        sf.write(p, y, SR, subtype="PCM_16")
        rows.append((str(p), "x", f"s{i}"))
    return pd.DataFrame(rows, columns=["path", "label", "speaker"])


def _square(shared, item):
    return item, item * item + shared, os.getpid()


def test_sequential_backend_stays_in_process():
    out = map_files(_square, 1, [1, 2, 3], {"n_jobs": 2, "backend": "sequential"}, progress=False)
    assert [o[1] for o in out] == [2, 5, 10]
    assert {o[2] for o in out} == {os.getpid()}


def test_loky_workers_and_progress_bar_moves_per_file(monkeypatch):
    import tqdm.auto

    updates = []

    class Bar:
        def __init__(self, total, **kw):
            self.total = total

        def update(self, n):
            updates.append(n)

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    items = list(range(8))
    out = map_files(_square, 0, items, {"n_jobs": 2, "backend": "loky"}, progress=True)
    assert sorted(o[1] for o in out) == [i * i for i in items]
    assert any(o[2] != os.getpid() for o in out)  # really ran in worker processes
    assert updates == [1] * len(items)  # one tick per finished file


def test_parallel_extraction_equals_sequential(clips):
    registry = get_registry(load_entrypoints=False)
    pipe = FeaturePipeline([registry.build("feature", {"name": "mfcc", "params": {"n_fft": 1024, "hop_length": 256, "stats": ["mean"],
                                                                "n_mfcc": 13, "n_mels": 40}})], {"sample_rate": 16000})
    seq = extract_table(clips, pipe, {"n_jobs": 1, "cache": False}, progress=False)
    par = extract_table(clips, pipe, {"n_jobs": 2, "backend": "loky", "cache": False}, progress=False)
    pd.testing.assert_frame_equal(seq, par)
    thr = extract_table(clips, pipe, {"n_jobs": 2, "backend": "threading", "cache": False}, progress=False)
    pd.testing.assert_frame_equal(seq, thr)


def test_local_plugin_module_works_in_loky_workers(tmp_path, clips):
    plugdir = tmp_path / "myplugins"
    plugdir.mkdir()
    (plugdir / "probe.py").write_text(LOCAL_PLUGIN)
    registry = get_registry([plugdir], load_entrypoints=False)
    pipe = FeaturePipeline([registry.build("feature", {"name": "blas_probe", "params": {}})], {"sample_rate": 16000})
    table = extract_table(clips, pipe, {"n_jobs": 2, "backend": "loky", "cache": False}, progress=False)
    rms, blas_threads = table["f0"].to_numpy(), table["f1"].to_numpy()
    assert np.all(np.diff(rms) > 0)  # louder clip, larger RMS: real values, in row order
    assert set(blas_threads) == {1.0}  # workers compute with one BLAS thread


def test_dask_backend_on_a_local_cluster(clips):
    distributed = pytest.importorskip("distributed")
    registry = get_registry(load_entrypoints=False)
    pipe = FeaturePipeline([registry.build("feature", {"name": "mfcc", "params": {"n_fft": 1024, "hop_length": 256, "stats": ["mean"],
                                                                "n_mfcc": 13, "n_mels": 40}})], {"sample_rate": 16000})
    seq = extract_table(clips, pipe, {"n_jobs": 1, "cache": False}, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            par = extract_table(clips, pipe, {"n_jobs": 2, "backend": "dask", "cache": False,
                                              "dask_address": cluster.scheduler_address}, progress=False)
        assert len(stream.data) >= len(clips)  # the work went through the dask scheduler
    pd.testing.assert_frame_equal(seq, par)


def test_dask_backend_without_the_extra_is_a_config_error(monkeypatch):
    import builtins

    from ser_framework.errors import ConfigError

    real_import = builtins.__import__

    def no_dask(name, *a, **k):
        if name.startswith("dask") or name.startswith("distributed"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(ConfigError, match="dask"):
        map_files(_square, 0, [1, 2], {"n_jobs": 2, "backend": "dask"}, progress=False)


def test_workers_start_only_after_the_pipeline_warmed_up_in_this_process(clips, monkeypatch):
    """Numba's on-disk cache is written by one process, before workers that would all compile at once."""
    registry = get_registry(load_entrypoints=False)
    pipe = FeaturePipeline([registry.build("feature", {"name": "pitch"})], {"sample_rate": SR})
    order = []
    real_warm_up = FeaturePipeline.warm_up

    def warm_up(self):
        order.append(("warm", os.getpid()))
        real_warm_up(self)

    monkeypatch.setattr(FeaturePipeline, "warm_up", warm_up)
    extract_table(clips, pipe, {"n_jobs": 1, "cache": False}, progress=False)
    assert order == []  # no workers: nothing to warm up for
    seen = []
    out = map_files(lambda shared, item: seen.append(("item", item)) or item, None, [1, 2], {"n_jobs": 2,
                    "backend": "threading"}, progress=False, warm_up=lambda: seen.append(("warm", None)))
    assert sorted(out) == [1, 2] and seen[0] == ("warm", None) and len(seen) == 3
    extract_table(clips, pipe, {"n_jobs": 2, "backend": "loky", "cache": False}, progress=False)
    assert order == [("warm", os.getpid())]
    assert pipe._warmed
    pipe.warm_up()  # once per pipeline and process
    assert len(order) == 2 and not hasattr(FeaturePipeline, "_warmed")


def test_warming_up_compiles_the_pitch_trackers_kernels_into_numbas_cache(tmp_path):
    """In a fresh process with an empty cache, warm_up alone writes the kernels yin's workers would load."""
    import subprocess
    import sys

    code = ("from ser_framework.extraction import FeaturePipeline\n"
            "from ser_framework.plugins import get_registry\n"
            "r = get_registry(load_entrypoints=False)\n"
            "FeaturePipeline([r.build('feature', {'name': 'pitch'})], {'sample_rate': 22050}).warm_up()\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
    written = [p.name for p in tmp_path.rglob("*.nbi")]
    assert any("localmin" in name for name in written), written
