"""Output document of the vacancy-hop network of one system (nodes, hops with their bands, best paths)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from spillover.schemas.base import Document
from spillover.schemas.neb import NebDoc


class HopNode(BaseModel):
    """A symmetry-distinct vacancy site of the network and its relaxed vacancy."""

    site: str = Field(description="Site label, e.g. 'L2:O14' (support layer 2 from the interface), 'RuO2 O131'.")
    region: Literal["support", "interlayer"] = Field(description="Support layer or interlayer oxide film.")
    layer: int | None = Field(description="Support layer from the interface (film: its layer).")
    index: int = Field(description="Index of the vacated O in the relaxed cell (the orbit's representative).")
    multiplicity: int = Field(description="Sites of the cell this one stands for.")
    target: bool = Field(description="An interface node: a path ends on reaching one.")
    energy_eV: float | None = Field(description="Total energy of the relaxed cell without this O (eV); null: failed.")
    converged: bool = Field(description="Whether that relaxation met its fmax.")
    job_id: str = Field(description="uuid of the job that computed the relaxation (the profile funnel or this network).")
    source: Literal["funnel", "network"] = Field(description="Profile funnel survivor (reused) or relaxed here.")


class BandSplit(BaseModel):
    """A band that held a state below both its ends, that state relaxed, and the two bands through it."""

    image: int = Field(description="Index of the band's lowest intermediate image, the start of the relaxation.")
    image_rel_eV: float = Field(description="That image's energy above the band's lower end (eV; negative).")
    intermediate_energy_eV: float = Field(description="Total energy of the relaxed intermediate state (eV).")
    intermediate_converged: bool = Field(description="Whether its relaxation met the preset's fmax.")
    relax_force_calls: int = Field(description="Force calls of that relaxation.")
    bands: list[NebDoc] = Field(
        default_factory=list, description="The bands initial end -> intermediate and intermediate -> final end; "
        "empty when the state did not stay below both ends (``reason``).")
    converged: bool = Field(False, description="Whether both bands converged.")
    saddle_rel_eV: float | None = Field(
        None, description="Higher of the two split bands' highest images above the hop's initial end (eV); null "
        "unless both converged. The hop's saddle is the highest of ``humps_rel_eV``, which may be lower.")
    intermediate_rel_eV: float | None = Field(
        None, description="The relaxed intermediate above the hop's initial end (eV), as the first band has it.")
    humps_rel_eV: list[float] | None = Field(
        None, description="Saddle, intermediate, saddle above the hop's initial end along the hop's route through "
        "the intermediate (eV), null unless both bands converged; the highest is the hop's saddle. Each hump is "
        "the highest image of a converged band that spans it: the two split bands, or, where the whole band "
        "converged and the route is lower so, its highest image for the side it lies on (``whole_band_side``).")
    whole_band_side: int | None = Field(
        None, description="1 or 2: the side of the intermediate whose hump the whole band's highest image gives "
        "(1: between the initial end and the intermediate); null: both humps are the split bands'.")
    reason: str | None = Field(None, description="Why the split gave no bands, if it did not.")

    def finish(self, whole: NebDoc) -> None:
        """Set ``converged``, ``saddle_rel_eV``, ``intermediate_rel_eV`` and the route from the two bands.

        ``whole`` is the band that was split. Its highest image is a climbing image converged on one side of
        the intermediate; the hump on the other side may fall between its images, so it stands in for the
        split band of its own side only, where that makes the route's highest point lower.
        """
        first, second = self.bands
        start = first.energies_eV[0]
        self.intermediate_rel_eV = first.energies_eV[-1] - start
        self.converged = first.converged and second.converged
        if not self.converged:
            return
        humps = [max(first.energies_eV) - start, self.intermediate_rel_eV, max(second.energies_eV) - start]
        self.saddle_rel_eV = max(humps[0], humps[2])
        if whole.converged:
            top = max(range(len(whole.energies_eV)), key=whole.energies_eV.__getitem__)
            side = 2 if top > self.image else 1
            mixed = list(humps)
            mixed[2 if side == 2 else 0] = whole.energies_eV[top] - whole.energies_eV[0]
            if max(mixed) < max(humps):
                humps, self.whole_band_side = mixed, side
        self.humps_rel_eV = humps

    @property
    def hop_saddle_rel_eV(self) -> float | None:
        """The hop's saddle above its initial end along its route through the intermediate (eV), or None."""
        return max(self.humps_rel_eV) if self.humps_rel_eV else None


class HopEdge(BaseModel):
    """A symmetry-distinct hop: its sites, its band (or why none was computed)."""

    label: str = Field(description="Hop label, e.g. 'L2:O40 -> L1:O3 (2.78 Å)' (the O moves from -> to).")
    kind: Literal["in-layer", "between-layers", "interlayer", "across-interface"] = Field(description="Where it runs.")
    from_site: str = Field(description="Node of the site the O leaves (the final vacancy).")
    to_site: str = Field(description="Node of the site the O fills (the initial vacancy).")
    from_layer: int | None = Field(description="Layer of the O's start site.")
    to_layer: int | None = Field(description="Layer of the O's end site.")
    distance_A: float = Field(description="Hop length (Å).")
    multiplicity: int = Field(description="Hops of the cell this one stands for.")
    hop: dict[str, Any] = Field(description="The hop (spillover.build.barriers.Hop.to_dict) with its equivalent hops.")
    lower_bound_eV: float | None = Field(description="The higher endpoint energy, above the lowest vacancy (eV).")
    skipped: str | None = Field(None, description="Why no band was computed (null: computed).")
    neb: NebDoc | None = Field(None, description="The band, when computed.")
    split: BandSplit | None = Field(
        None, description="Set when the band held a state below both ends (barriers.split_below_eV): that state "
        "relaxed and the two bands through it, which then give the hop's saddle.")


class HopPath(BaseModel):
    """The best path of a vacancy from one support layer to the interface."""

    from_layer: int = Field(description="Support layer k of the start, from the interface.")
    start_site: str = Field(description="The layer's lowest-energy vacancy.")
    E_eff_eV: float | None = Field(description="Highest point of the path above the start (eV); null: no path.")
    hops: list[str] = Field(default_factory=list, description="Hop labels in order, the vacancy moving towards the interface.")
    sites: list[str] = Field(default_factory=list, description="Nodes visited, start first.")
    levels_eV: list[float] = Field(
        default_factory=list,
        description="Energies along the path above the start: vacancy, saddle, vacancy, ... (eV); a split hop "
        "adds its saddle, intermediate state, saddle.")
    reason: str | None = Field(None, description="Why there is no path, if none.")


class HopNetworkDoc(Document):
    """The vacancy-hop network of one system's relaxed cell and its effective barriers."""

    doc_type: Literal["hop-network"] = Field("hop-network", description="Document type, for queries.")
    system: str = Field(description="System label.")
    support: str = Field(description="Support facet.")
    cell_job_id: str = Field(description="uuid of the system's relaxed cell.")
    cutoff_A: float = Field(description="Longest hop (Å).")
    lazy: bool = Field(description="Whether bands were computed only where they could lie on a best path.")
    nodes: list[HopNode] = Field(description="Every vacancy site of the network.")
    edges: list[HopEdge] = Field(description="Every symmetry-distinct hop, computed or skipped.")
    paths: list[HopPath] = Field(description="Best path from each support layer 1..L.")
    temperature_K: float = Field(description="Temperature of the hop rates (the study's verdict temperature, K).")
    prefactor_per_s: float = Field(description="Attempt frequency of the hop rates (1/s).")
    funnel_job_ids: list[str] = Field(default_factory=list, description="The profile funnels whose vacancies were reused.")
    rounds: int = Field(description="Batches of bands computed.")
    n_bands: int = Field(description="Bands computed (converged or not).")
    force_calls: int = Field(description="Calculator calls of this job: node relaxations plus bands.")
    workers: int = Field(1, description="Worker processes.")
    wall_time_s: float = Field(description="Wall time of the job (s).")
    failed: list[str] = Field(default_factory=list, description="What could not be computed, and why.")
    settings: dict[str, Any] = Field(description="The study's barriers settings.")
    reused_from_job_id: str | None = Field(
        None, description="Set when this document is a copy of a stored one (same content hash): the job that computed it.")
