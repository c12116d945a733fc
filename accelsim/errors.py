"""The exception types users see: each message is a single line naming the file, the node/key and the problem."""
import difflib


class AccelsimError(Exception):
    """Bad input or an impossible request; the CLI prints it as one line and exits 1."""

    exit_code = 1


class UsageError(AccelsimError):
    """A command line that does not parse (unknown option, missing argument, bad choice): exit 2."""

    exit_code = 2


def did_you_mean(word: str, known) -> str:
    """' (did you mean X?)' for the closest known spelling of a misspelt ``word``, or '' when none is close."""
    known = list(known)
    close = [k for k in known if k.startswith(word)] or difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
