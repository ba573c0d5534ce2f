"""CBP tests run tiny matrices: one BLAS thread is much faster than several contended ones."""
import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield
