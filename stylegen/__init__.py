"""stylegen: keep a brand's written voice consistent at scale.

The public API is re-exported here. Names load lazily, so ``import stylegen`` does not
import torch, transformers or spaCy.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "StylegenError": "errors", "ConfigError": "errors", "DataError": "errors",
    "BrandKit": "brand", "load_brand": "brand",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stylegen' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
