"""`shared.bootstrap`: each factory builds its dependencies once, and `reset()` forgets every one."""

from __future__ import annotations

import functools

from shared import bootstrap


def test_a_factory_builds_once_until_reset() -> None:
    built: list[object] = []

    @bootstrap.dependencies
    def probe() -> object:
        built.append(object())
        return built[-1]

    try:
        first = probe()
        assert probe() is first
        bootstrap.reset()
        assert probe() is not first
        assert len(built) == 2
    finally:
        bootstrap._FACTORIES.remove(probe)


def test_reset_clears_every_cached_factory_of_the_module() -> None:
    # A factory cached with plain functools.cache would survive reset() and keep clients bound to
    # the endpoints of an earlier environment (the local stack resets when it changes them).
    cached = {name for name, value in vars(bootstrap).items() if isinstance(value, functools._lru_cache_wrapper)}
    assert cached, "no cached factory found: the check is not looking at the right place"
    registered = {name for name in cached if getattr(bootstrap, name) in bootstrap._FACTORIES}
    assert registered == cached, f"cached but not cleared by reset(): {sorted(cached - registered)}"
