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


#: thread counts for worker processes: one BLAS/OpenMP/numba thread each
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
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
def _backend(extraction):
    import joblib

    backend = extraction.backend
    if backend != "dask":
        yield backend
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        from .errors import ConfigError

        raise ConfigError([("extraction.backend", "the dask backend needs the 'dask' extra: pip install 'ser-framework[dask]'")]) from None
    address = extraction.dask_address
    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(n_workers=effective_jobs(extraction.n_jobs), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        with joblib.parallel_config(backend="dask"):
            yield "dask"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def map_files(func, shared, items, extraction, progress: bool = True, desc: str = "extracting"):
    """Return ``[func(shared, item) for item in items]`` in parallel, in completion order.

    ``extraction`` is an :class:`~ser_framework.config.ExtractionSettings` (or a mapping of its fields).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from .config import ExtractionSettings

    extraction = ExtractionSettings.model_validate(extraction)
    n_jobs = effective_jobs(extraction.n_jobs)
    bar = tqdm(total=len(items), desc=desc, unit="file", disable=not progress, leave=False)
    results = []
    backend_name = extraction.backend
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
