"""Installed versions, recorded in manifests so a result says what it was made with."""
from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from stylegen import __version__


def package_versions(names: tuple[str, ...] | list[str], runtime: bool = False) -> dict:
    """stylegen's version and the installed version of each distribution in ``names``.

    Args:
        names: distribution names as pip knows them (``scikit-learn``, ``torch``).
        runtime: also record the Python version and the platform string.

    Returns:
        ``{"stylegen": ..., name: version or None (not installed)}``, with ``python`` and
        ``platform`` first when ``runtime``.
    """
    out = {"python": platform.python_version()} if runtime else {}
    out["stylegen"] = __version__
    if runtime:
        out["platform"] = platform.platform()
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
