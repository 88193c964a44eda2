"""Structure builders: bulk crystals, slabs with layer indices, lattice-matched interfaces."""

from __future__ import annotations

from spillover.build.bulk import BULKS, load_bulk, structures_dir
from spillover.build.interfaces import MatchReport, find_matches, make_interface
from spillover.build.layers import assign_layers, layer_counts
from spillover.build.slabs import SLAB_NAMES, make_slab, parse_facet

__all__ = [
    "BULKS",
    "SLAB_NAMES",
    "MatchReport",
    "assign_layers",
    "find_matches",
    "layer_counts",
    "load_bulk",
    "make_interface",
    "make_slab",
    "parse_facet",
    "structures_dir",
]
