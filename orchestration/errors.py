"""Errors a user can act on. The CLI turns them into one-line messages and exit code 2."""


class UserError(Exception):
    """Bad input from the user (config, flags, files). Exit code 2, no traceback."""


class ConfigError(UserError):
    """A config key is unknown, has the wrong type, or is out of range."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")
