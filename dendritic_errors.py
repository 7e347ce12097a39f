"""The project-wide error type for bad user input (files, names, parameters).

A module of its own so that `cells`, `bridge` and `bridge.nn` can all use it without
importing each other.

The command line prints these as one line and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class InputError(ValueError):
    """Bad input: the message names what is wrong and where (file:line where there is one)."""
