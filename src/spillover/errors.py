"""The one exception type for bad user input.

The CLI turns an :class:`InputError` into a single line on stderr and exit code 2,
so every check of user input (study files, names, numbers) raises this and nothing else.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input, reported as ``<field>: <problem> (allowed: <allowed>)``.

    Parameters
    ----------
    field
        Name of the offending input (a CLI option, a study-file key path, a preset key).
    problem
        What is wrong with it.
    allowed
        The allowed values or range, if they can be named.
    """

    def __init__(self, field: str, problem: str, allowed: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.allowed = allowed
        text = f"{field}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)

    def __reduce__(self):
        # a worker process pickles the exception back to the parent: rebuild it from its three parts
        return (type(self), (self.field, self.problem, self.allowed))


class UnsafeDocumentError(RuntimeError):
    """A stored document names a module outside :data:`spillover.decoding.ALLOWED_MODULES` (never decoded).

    Not a ValueError: jobflow swallows ValueErrors while it resolves references, and this must
    stop the job with its own message.
    """


def unknown_key(key: str, allowed, what: str = "unknown key") -> str:
    """The problem text for an unknown key: ``what``, with the closest allowed key when one is close.

    Examples
    --------
    >>> unknown_key("fmaxx", ["fmax", "steps"])
    "unknown key (did you mean 'fmax'?)"
    """
    import difflib

    close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"{what} (did you mean {close[0]!r}?)" if close else what
