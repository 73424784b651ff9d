"""The ``losslab`` command: compare, recommend and visualize losses on data.

    losslab list                      # every loss, by family
    losslab explain huber             # formula, parameters, when to use it
    losslab eval huber --input a.npy --target b.npy --delta 1
    losslab train data.csv --target y --loss huber:1 --epochs 50
    losslab compare --dataset ames --losses mse,mae,huber --folds 5

``main(argv)`` returns the exit status (0 ok, 2 bad input, 130 interrupted).
See docs/cli.md.
"""

from losslab.cli.errors import CliError


def main(argv=None) -> int:
    """Entry point of the ``losslab`` console script."""
    from losslab.cli.main import main as _main

    return _main(argv)


__all__ = ["main", "CliError"]
