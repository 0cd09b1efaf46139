"""A faster ``resolve`` for PyYAML loader and dumper classes (same answers).

libyaml's parser and emitter call the Python ``resolve`` once or twice for every scalar. With no
path resolvers (the safe loaders and dumpers have none) the tag of a scalar depends on its text
only: text whose first character has no implicit resolver is a string, other text is looked up
once per distinct value.
"""

from __future__ import annotations

import operator
from typing import Any

import yaml


def install_fast_resolve(cls: type, cache_size: int = 100_000) -> None:
    """Replace ``cls.resolve`` by an equivalent, memoised one (``cls`` must have no path
    resolvers; its implicit resolvers must not change afterwards)."""
    assert not cls.yaml_path_resolvers  # type: ignore[attr-defined]
    resolvers = cls.yaml_implicit_resolvers  # type: ignore[attr-defined]
    first_chars = frozenset(k for k in resolvers if k is not None)
    has_wildcard = None in resolvers
    default = cls.DEFAULT_SCALAR_TAG  # type: ignore[attr-defined]
    original = cls.resolve  # type: ignore[attr-defined]
    scalar = yaml.ScalarNode
    cache: dict[str, str] = {}

    def resolve(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not scalar:
            return original(self, kind, value, implicit)
        if not implicit[0]:
            return default
        if value and value[0] not in first_chars and not has_wildcard:
            return default
        try:
            return cache[value]
        except KeyError:
            tag: str = original(self, kind, value, implicit)
            if len(cache) >= cache_size:
                cache.clear()
            cache[value] = tag
            return tag

    cls.resolve = resolve  # type: ignore[attr-defined]
    # Without path resolvers descend_resolver and ascend_resolver return at once, and the
    # parser calls both for every node: as C callables that take the same arguments and do
    # nothing (a builtin is no descriptor: self is not passed), they cost no Python frame.
    cls.descend_resolver = operator.is_  # type: ignore[attr-defined]  # (node, index)
    cls.ascend_resolver = tuple  # type: ignore[attr-defined]  # ()
