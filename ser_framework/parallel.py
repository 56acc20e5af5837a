"""Running per-file work through joblib with a progress bar that moves as files finish."""
from __future__ import annotations

import contextlib
import os


def effective_jobs(n_jobs: int) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return n_jobs


#: thread counts for worker processes: BLAS/OpenMP pools and TensorFlow, if a plugin imports it
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


@contextlib.contextmanager
def _worker_env():
    """Environment that new worker processes inherit (loky copies ``os.environ`` at spawn).

    Variables the user has set are kept; the rest are restored afterwards.
    """
    added = {k: v for k, v in WORKER_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextlib.contextmanager
def _backend(extraction: dict):
    import joblib

    backend = extraction.get("backend", "loky")
    if backend != "dask":
        yield backend
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        from .errors import ConfigError

        raise ConfigError([("extraction.backend", "the dask backend needs the 'dask' extra: pip install 'ser-framework[dask]'")]) from None
    address = extraction.get("dask_address")
    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(n_workers=effective_jobs(extraction.get("n_jobs", 1)), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        with joblib.parallel_config(backend="dask"):
            yield "dask"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def map_files(func, shared, items, extraction: dict, progress: bool = True, desc: str = "extracting"):
    """Return ``[func(shared, item) for item in items]`` in parallel, in completion order."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    n_jobs = effective_jobs(extraction.get("n_jobs", 1))
    bar = tqdm(total=len(items), desc=desc, unit="file", disable=not progress, leave=False)
    results = []
    backend_name = extraction.get("backend", "loky")
    try:
        if backend_name == "sequential" or (n_jobs == 1 and backend_name != "dask") or len(items) <= 1:
            for item in items:
                results.append(func(shared, item))
                bar.update(1)
            return results
        with _backend(extraction) as backend:
            if backend == "dask":
                parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
                context = contextlib.nullcontext()
            else:
                # one BLAS/OpenMP thread per worker: n_jobs workers share the cores
                parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered", backend=backend)
                context = _worker_env()
            with context:
                for result in parallel(delayed(func)(shared, item) for item in items):
                    results.append(result)
                    bar.update(1)
        return results
    finally:
        bar.close()
