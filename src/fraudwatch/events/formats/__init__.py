"""Built-in source formats; importing this package registers them all."""

from importlib import import_module

_BUILTIN = ("canonical", "gateways", "documents", "applog", "sqltable", "datasets")

for _name in _BUILTIN:
    try:
        import_module(f"fraudwatch.events.formats.{_name}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a module is being written
        if _exc.name != f"fraudwatch.events.formats.{_name}":
            raise
