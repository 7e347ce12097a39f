"""Errors caused by user input (files, names, parameters).

The command line prints these as one line and exits non-zero; anything else is a bug
and keeps its traceback.
"""


class InputError(ValueError):
    """Bad input: the message names what is wrong and where (file:line where there is one)."""
