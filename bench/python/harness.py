"""What every Python twin shares: the command line "[--iters N]
[row-prefix...]" and the row selection, as bench/harness/ for the C side.
(No C program is named harness, so bench/run never runs this file.)"""
import sys


def parse_args(argv, prog):
    """(iters or None, prefixes) from argv; exit with usage on a bad one."""
    iters = None
    prefixes = []
    args = iter(argv)
    for arg in args:
        if arg == "--iters":
            try:
                iters = int(next(args))
            except (StopIteration, ValueError):
                iters = 0
            if iters <= 0:
                sys.exit(f"usage: {prog} [--iters N] [row-prefix...]")
        elif arg.startswith("-"):
            sys.exit(f"usage: {prog} [--iters N] [row-prefix...]")
        else:
            prefixes.append(arg)
    return iters, prefixes


def selected(prefixes, row, rows):
    """No prefixes selects every row; an argument that is a whole row name
    (one of rows) selects that row alone, any other the rows it begins."""
    if not prefixes:
        return True
    return any(row == p if p in rows else row.startswith(p)
               for p in prefixes)
