"""The two kinds of error a user can meet: bad usage (exit 2) and a failure (exit 1)."""


class SeqgenError(Exception):
    """Something went wrong that the user can fix; the CLI prints the message on one line."""

    exit_code = 1


class UsageError(SeqgenError):
    """A bad argument, option or input: the CLI exits with code 2."""

    exit_code = 2


class PluginError(SeqgenError):
    """A plugin's code failed or broke the contract: a bug to report to its authors (exit 1)."""
