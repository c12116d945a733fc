"""The exception types users see: each message is a single line naming the file, the node/key and the problem."""


class AccelsimError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits 1."""

    exit_code = 1


class UsageError(AccelsimError):
    """A command line that does not parse (unknown option, missing argument, bad choice): exit 2."""

    exit_code = 2
