"""spillover: workflows for bulk oxygen spillover at Ru/TiO2 interfaces."""

from __future__ import annotations

__version__ = "0.1.0"
