"""The one exception type users see: its message is a single line naming the file, the node/key and the problem."""


class AccelsimError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits 1."""
