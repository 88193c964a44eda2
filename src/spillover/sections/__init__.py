"""The sections of a study file: one pydantic settings model per concern (pydantic only, no heavy imports).

:mod:`.systems` holds what every study has (systems, their cells, the lattice-match limits, the O2
reference); each analysis has its own module, and :mod:`spillover.analyses` names which model is
which study section.
"""
