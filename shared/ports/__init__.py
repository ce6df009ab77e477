"""Ports: what the use cases need from the outside world, as plain Python (no SDK types).

One module per outside system or aggregate; adapters (`shared.adapters`) implement them, the
fakes under `tests/fakes/` mirror them. Each use case depends on the narrowest protocol that
covers what it calls (`store.RouterStore`, `store.ApiStore`, `store.StripeSyncStore`), so a
reader sees at a glance what a function touches. Errors every adapter raises: `errors`.
"""
