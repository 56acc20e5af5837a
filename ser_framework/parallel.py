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
    try:
        if n_jobs == 1 and extraction.get("backend", "loky") != "dask":
            for item in items:
                results.append(func(shared, item))
                bar.update(1)
            return results
        with _backend(extraction) as backend:
            kwargs = {} if backend == "dask" else {"backend": None if backend == "sequential" else backend}
            parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered", **kwargs)
            for result in parallel(delayed(func)(shared, item) for item in items):
                results.append(result)
                bar.update(1)
        return results
    finally:
        bar.close()
