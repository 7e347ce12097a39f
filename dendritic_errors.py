"""The project-wide error type for bad user input (files, names, parameters).

A module of its own so that `cells`, `bridge` and `bridge.nn` can all use it without
importing each other.

The command line prints these as one line and exits 2; anything else is a bug: one line
`internal error: ...` and exit 3, the traceback only with `bridge --debug`.
"""


class InputError(ValueError):
    """Bad input: the message names what is wrong and where (file:line where there is one)."""


class InputWarning(UserWarning):
    """Input accepted but changed or doubtful; the command line prints it as one line
    `bridge CMD: warning: message` (the message names the file:line where there is one)."""
