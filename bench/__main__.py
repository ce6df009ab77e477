"""Run every benchmark module in `bench/` (or the ones named on the command line).

python -m bench                 # all
python -m bench import_time     # one
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path
from typing import TextIO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    args = parser.parse_args(argv)
    available = sorted(
        module.name for module in pkgutil.iter_modules([str(Path(__file__).parent)]) if not module.name.startswith("_")
    )
    unknown = [name for name in args.names if name not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available}")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    tables = sys.stdout
    sys.stdout = _WithoutHandlerOutput(tables)
    try:
        for name in args.names or available:
            print(f"\n=== bench.{name} ===", flush=True)
            module = importlib.import_module(f"bench.{name}")
            module.main()
    finally:
        sys.stdout = tables
    return 0


class _WithoutHandlerOutput:
    """Stdout for the benchmark tables: drops the JSON lines (EMF metrics, logs) the handlers print."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if not line.startswith("{"):
                self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


if __name__ == "__main__":
    sys.exit(main())
