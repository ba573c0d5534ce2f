# the built-in system kinds register as the package is imported, before any of its modules is
# used (orchestration/llm/registry.py)
from lolpim.orchestration.llm import kinds  # noqa: F401
