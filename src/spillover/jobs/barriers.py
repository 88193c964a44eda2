"""Jobs of the barrier analysis: per region, the symmetry-distinct hops and one NEB job per hop.

The hops depend on the relaxed bulks, so each region is one job that builds its host from them,
enumerates the hops (:mod:`spillover.build.barriers`), stores a :class:`HopSetDoc` and adds the NEB
jobs to the running flow. With ``dft_preset`` every hop gets a second NEB at that preset started
from the first band (the fidelity ladder).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, Response, job

from spillover.schemas import as_structure
from spillover.schemas.neb import HopSetDoc

#: Band settings of the study passed on to every NebMaker.
BAND_OVERRIDES = ("n_images", "spring_constant", "fmax", "steps", "optimizer")


def _neb_maker(name: str, preset: str, overrides: dict, settings: dict, checkpoint_dir: str):
    from spillover.jobs.neb import NebMaker

    return NebMaker(
        name=name,
        preset=preset,
        preset_overrides=overrides,
        relax_endpoints=settings["relax_endpoints"],
        max_hop_A=settings["cutoff_A"],
        checkpoint_dir=checkpoint_dir,
        **{k: settings.get(k) for k in BAND_OVERRIDES},
    )


def neb_jobs_for_hop(
    hop: dict[str, Any],
    initial: Any,
    final: Any,
    preset: str,
    preset_overrides: dict,
    settings: dict,
    checkpoint_dir: str,
) -> list[Job]:
    """The NEB job of one hop at ``preset``, and the DFT job warm-started from it if asked.

    Parameters
    ----------
    hop
        The hop's dictionary (stored with the results).
    initial, final
        Endpoint structures.
    settings
        The study's barrier settings (``BarrierSettings.model_dump()``).
    checkpoint_dir
        Absolute directory for band checkpoints.
    """
    tag = f"{hop.get('region', '')} {hop.get('label', '')}".strip()
    first = _neb_maker(f"neb {tag} ({preset})", preset, preset_overrides, settings, checkpoint_dir).make(
        initial, final, hop=hop, metadata={"region": hop.get("region", "")}
    )
    jobs = [first]
    dft = settings.get("dft_preset")
    if dft:
        second = _neb_maker(f"neb {tag} ({dft})", dft, settings.get("dft_preset_overrides") or {}, settings,
                            checkpoint_dir).make(
            initial, final, hop=hop, start_band=first.output,
            start_band_source=f"band of job {first.uuid} at {preset}", metadata={"region": hop.get("region", "")},
        )
        jobs.append(second)
    return jobs


@job(output_schema=HopSetDoc)
def region_barriers(
    region: str,
    bulk_structures: dict[str, Any],
    bulk_sources: dict[str, str],
    preset: str,
    preset_overrides: dict,
    settings: dict,
    lattice_match: dict,
    checkpoint_dir: str,
) -> Response:
    """Build a region's host, find its distinct hops and add one NEB job (or two) per hop.

    Parameters
    ----------
    region
        A key of :data:`spillover.build.barriers.REGIONS`.
    bulk_structures, bulk_sources
        Material -> relaxed bulk structure, and -> uuid of its relaxation.
    preset, preset_overrides
        Preset of the first NEB of every hop.
    settings
        The study's barrier settings.
    lattice_match
        Lattice-match limits for the RuO2/r-TiO2 interface.
    checkpoint_dir
        Absolute directory for band checkpoints.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.barriers import REGIONS, hop_endpoints, limit_hops, region_host, region_hops, region_sites

    bulks = {name: AseAtomsAdaptor.get_atoms(as_structure(s)) for name, s in bulk_structures.items()}
    supercell = (settings.get("supercell") or {}).get(region)
    host = region_host(
        region, bulks, cutoff=settings["cutoff_A"], supercell=supercell, slab_layers=settings["slab_layers"],
        fixed_layers=settings["fixed_layers"], vacuum=settings["vacuum"],
        interface_support_layers=settings["interface_support_layers"],
        max_area=lattice_match.get("max_area_A2", 120.0),
        max_strain_percent=lattice_match.get("max_strain_percent", 6.0),
    )
    all_hops = region_hops(region, host, settings["cutoff_A"], hop_layers=settings["hop_layers"])
    limit = settings.get("max_hops")
    hops = limit_hops(all_hops, limit.get(region) if isinstance(limit, dict) else limit)
    support = REGIONS[region]["support"]
    jobs, listing = [], []
    for hop in hops:
        initial, final = (AseAtomsAdaptor.get_structure(a) for a in hop_endpoints(host, hop))
        hop_dict = {**hop.to_dict(), "support": support}
        new = neb_jobs_for_hop(hop_dict, initial, final, preset, preset_overrides, settings, checkpoint_dir)
        jobs += new
        presets = [preset, settings.get("dft_preset")]
        listing += [{"hop": hop.label, "job": j.uuid, "preset": p} for j, p in zip(new, presets)]
    doc = HopSetDoc(
        region=region,
        support=support,
        host_formula=host.get_chemical_formula(mode="hill"),
        natoms=len(host),
        supercell=[int(x) for x in host.info["supercell"]],
        cutoff_A=settings["cutoff_A"],
        sites=[asdict(s) for s in region_sites(region, host, settings["hop_layers"])],
        hops=[h.to_dict() for h in hops],
        n_hops_found=len(all_hops),
        neb_jobs=listing,
        host_structure=AseAtomsAdaptor.get_structure(host).as_dict(),
        bulk_sources=bulk_sources,
        preset=preset,
        settings=settings,
    )
    return Response(output=doc, addition=Flow(jobs, name=f"barriers {region}") if jobs else None)


def checkpoint_root(scratch: str | Path | None = None) -> str:
    """Absolute band-checkpoint directory: ``<scratch>/neb-checkpoints`` (resolved now).

    ``scratch`` defaults to ``$SPILLOVER_SCRATCH`` (or ``./spillover-scratch``). It is the scratch
    base, not a run's folder, so a later run of the same hop resumes from the checkpoint.
    """
    from spillover.jobs.neb import CHECKPOINT_SUBDIR
    from spillover.settings import get_settings

    return str((Path(scratch or get_settings().scratch) / CHECKPOINT_SUBDIR).resolve())
