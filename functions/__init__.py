"""The Lambda functions, one package each (docs/adding-a-function.md).

A cold start's imports make tens of thousands of objects that live as long as the process, and
CPython's cyclic garbage collector would scan them all, more than once, while they load: about
80 ms of the API's cold start (`python -m bench import_time`). Lambda imports this package before
any handler, so importing it pauses the collector; each handler module calls `imports_done()`
right after its imports, which moves everything loaded so far out of the collector's sight
(`gc.freeze`) and turns it back on. tests/unit/test_cold_start.py fails if a handler forgets.
"""

import gc

gc.disable()


def imports_done() -> None:
    """End of a handler's imports: what they loaded is never garbage; collect the rest as usual."""
    gc.freeze()
    gc.enable()
