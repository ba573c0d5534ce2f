"""Rows of results as a pandas DataFrame, for notebooks: pandas is an optional extra."""
from __future__ import annotations

from lolpim.core.errors import UserError

EXTRA = "dataframe"


class MissingExtraError(UserError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def to_dataframe(rows: list[dict]):
    """``rows`` (one dict per row, the same keys as the CSV files) as a pandas DataFrame."""
    try:
        import pandas
    except ModuleNotFoundError:
        raise MissingExtraError(f"to_dataframe() needs pandas, which is not installed; install the optional extra: "
                                f"pip install 'lolpim[{EXTRA}]' (or pip install pandas)") from None
    return pandas.DataFrame(rows)
