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


def map_files(func, shared, items, extraction, progress: bool = True, desc: str = "extracting", warm_up=None):
    """Return ``[func(shared, item) for item in items]`` in parallel, in completion order.

    ``extraction`` is an :class:`~ser_framework.config.ExtractionSettings` (or a mapping of its fields).
    ``warm_up``: called in this process before any worker starts, when workers
    are used (e.g. :meth:`~ser_framework.extraction.FeaturePipeline.warm_up`,
    so that numba's kernels are compiled and cached once, not by every worker at once).
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
        if warm_up is not None:
            warm_up()
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


# --- processes forked after a model is loaded ---------------------------------------------------

#: what a forked worker works with (set just before the fork, inherited by the children)
_FORK_STATE: object = None


def can_fork() -> bool:
    """Whether forking this process is safe: Linux, no other thread running, TensorFlow not loaded."""
    import sys
    import threading

    return sys.platform == "linux" and threading.active_count() == 1 and "tensorflow" not in sys.modules


def fork_pool(state, workers: int):
    """``workers`` processes forked from this one now, sharing ``state`` (see :func:`fork_state`), or ``None``.

    A clip's analysis is many small numpy steps that hold the GIL, so threads
    barely overlap; forked processes start in milliseconds, share the loaded
    libraries and model without pickling them, and run truly in parallel.
    ``None`` (do the work in this process) when ``workers`` < 2 or forking is
    not safe (:func:`can_fork`). Shut the pool down when done
    (``with pool:`` or ``pool.shutdown()``).
    """
    if workers < 2 or not can_fork():
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _FORK_STATE
    _FORK_STATE = state
    try:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        pool.submit(int).result()  # fork every worker now, while the state is set and no thread runs
    finally:
        _FORK_STATE = None  # the children keep their copy; this process does not hold on to it
    return pool


def fork_state():
    """In a worker of :func:`fork_pool`: the ``state`` it was forked with."""
    return _FORK_STATE
