"""The project's one error family: bad input a user can act on.

Every layer may import this module (it imports nothing of the project). The CLI turns
any UserError into a one-line message and exit code 2, never a traceback.
"""


class UserError(Exception):
    """Bad input from the user (config, flags, files, parameters). Exit code 2, no traceback."""


class ParameterError(UserError, ValueError):
    """A parameter is missing, has the wrong type, or is out of its allowed range.

    Also a ValueError, so numeric code that validates its arguments reads naturally."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"'{field}': {message}")


class ConfigError(UserError):
    """A config key is unknown, has the wrong type, or is out of range."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class FlagError(UserError):
    """A command-line flag has a value that is not allowed (or does not apply)."""

    def __init__(self, flag: str, message: str):
        self.flag = flag
        super().__init__(f"{flag}: {message}")
