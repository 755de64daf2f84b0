"""azfeeds: rewrite Azure Artifacts index URLs into UUID form so that uv stops failing with 401.

The library API (``load``, ``plan``, ``apply``, ``table_from_map``, ``table_from_api``) is
documented in the README's "Library API" section and in ``azfeeds.api``. Its names are loaded on
first use, so that ``import azfeeds`` (and ``azfeeds --version``) stay cheap.
"""

# No import runs at import time (not even typing): a Ctrl-C that lands while the package loads
# would otherwise escape before __main__.main() can turn it into exit 130.
TYPE_CHECKING = False

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "AzfeedsError",
    "Change",
    "ExitCode",
    "FeedLookupError",
    "FeedTable",
    "FileError",
    "Rewrite",
    "Workspace",
    "__version__",
    "apply",
    "load",
    "plan",
    "table_from_api",
    "table_from_map",
]

_LAZY = {
    "load": "api",
    "plan": "api",
    "apply": "api",
    "table_from_map": "api",
    "table_from_api": "api",
    "Rewrite": "api",
    "Workspace": "engine",
    "Change": "planner",
    "FeedTable": "table",
    "AzfeedsError": "errors",
    "AuthError": "errors",
    "FeedLookupError": "errors",
    "FileError": "errors",
    "ExitCode": "errors",
}

if TYPE_CHECKING:
    from typing import Any

    from .api import Rewrite, apply, load, plan, table_from_api, table_from_map
    from .engine import Workspace
    from .errors import AuthError, AzfeedsError, ExitCode, FeedLookupError, FileError
    from .planner import Change
    from .table import FeedTable


def __getattr__(name: str) -> "Any":
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'azfeeds' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
