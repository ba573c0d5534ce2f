"""The one error type the pure model layers raise for bad parameters.

hardware/ and models/ sit below orchestration/, so they cannot raise its UserError;
the CLI catches ParameterError too and prints its message (exit code 2).
"""


class ParameterError(ValueError):
    """A parameter is missing, has the wrong type, or is out of its allowed range."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"'{field}': {message}")
