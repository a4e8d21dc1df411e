"""The RNN challenge kit: datasets, training, student modules and the `challenge` CLI."""

__version__ = "0.1.0"


def check(part: str | None = None, *, impl: str = "challenge", seed: int = 0,
          verbose: bool = False, device: str = "cpu"):
    """The public checks of ``part`` (all parts when None), for a notebook: the result shows
    as a table in Jupyter and as text with ``print``. See :func:`challenge.student.check`."""
    from challenge.student import check as run_checks   # imports torch: only when called

    return run_checks(part, impl=impl, seed=seed, verbose=verbose, device=device)


def reproduce(key: str, *, seed: int = 0, impl: str = "challenge"):
    """Run one check (``"part.name"``) again on your module; see :func:`challenge.student.reproduce`."""
    from challenge.student import reproduce as run_one

    return run_one(key, seed=seed, impl=impl)
