import os

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """One embedded local Ray for the whole test session (starting one costs ~2-3 s)."""
    import ray
    if not ray.is_initialized():
        ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
    yield ray
