"""Sub-command groups of the `linja` CLI; each module has `register(subparsers)`."""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, nothing changed."""
