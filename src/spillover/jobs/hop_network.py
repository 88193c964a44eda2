"""Jobs of the vacancy-hop network of each system's relaxed cell (docs/science.md, "Vacancy migration").

Three steps, each adding the next once its inputs exist:

``network_sites``
    enumerates the nodes of the relaxed cell and adds the profile's vacancy funnels of every support
    layer 1..L and of the interlayer film (:func:`spillover.jobs.mu_profile.profile_funnel`: the same
    funnels, so a study that runs the profile too reuses them by their hash) and ``network_nodes``;
``network_nodes``
    takes each node's relaxed vacancy from its funnel where the funnel relaxed it to convergence and
    adds one relaxation job for every other node (stored and reused like every calculation), then
    ``hop_network``;
``hop_network``
    computes the bands the best paths need (:func:`spillover.analysis.hop_graph.explore`, bands side by
    side on the workers), their endpoints being the nodes' relaxed vacancies, and stores a
    :class:`~spillover.schemas.hop_network.HopNetworkDoc`. With ``dft_preset`` the hops on the best
    paths get a band at that preset started from the screen band (the fidelity ladder).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from jobflow import Flow, JobConfig, OnMissing, Response, job
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.schemas import as_structure, calc_atoms, plain
from spillover.schemas.hop_network import BandSplit, HopEdge, HopNetworkDoc, HopNode, HopPath

def _tolerate_missing() -> JobConfig:
    return JobConfig(on_missing_references=OnMissing.NONE)


def node_groups(cell, profile: dict) -> list[tuple[str, int | None]]:
    """(region, layer) of every vacancy funnel the network's nodes come from, in path order."""
    from spillover.build.mu_profile import cell_vacancy_sites

    return list(dict.fromkeys((s.region, s.layer) for s in cell_vacancy_sites(cell, profile["support_layers_probed"])))


@job
def network_sites(clean: dict | None, clean_id: str, label: str, support: str, preset: str,
                  preset_overrides: dict, profile: dict, settings: dict, checkpoint_dir: str) -> Response:
    """Add the vacancy funnels of the network's nodes and the ``network_nodes`` job."""
    from spillover.jobs.mu_profile import profile_funnel

    clean = plain(clean)
    if clean is None:
        raise RuntimeError(f"{label}: the relaxed cell is missing; no hop network")
    cell = calc_atoms(clean)
    funnels = []
    for region, layer in node_groups(cell, profile):
        f = profile_funnel(clean, clean_id, label, region, layer, preset, preset_overrides, profile)
        f.name = f"mu-profile {label} {region}" + (f" L{layer}" if layer is not None else "")
        f.update_metadata({"system": label, "mu_profile": {"region": region, "layer": layer}})
        f.config = _tolerate_missing()
        funnels.append(f)
    nodes = network_nodes(clean, clean_id, label, support, preset, preset_overrides, profile, settings,
                          checkpoint_dir, [f.uuid for f in funnels], [f.output for f in funnels])
    nodes.name = f"hop-network nodes {label}"
    nodes.update_metadata({"system": label})
    nodes.config = _tolerate_missing()
    return Response(addition=Flow([*funnels, nodes], name=f"hop-network {label}"))


@job
def network_nodes(clean: dict, clean_id: str, label: str, support: str, preset: str, preset_overrides: dict,
                  profile: dict, settings: dict, checkpoint_dir: str, funnel_ids: list[str],
                  funnels: list[dict | None]) -> Response:
    """Reuse each node's converged funnel relaxation; add a relaxation job for every other node, then ``hop_network``."""
    from spillover.build.hop_network import cell_network
    from spillover.build.mu_profile import without_atom
    from spillover.jobs.relax import RelaxMaker

    clean = plain(clean)
    cell = calc_atoms(clean)
    net = cell_network(cell, profile["support_layers_probed"], settings["cutoff_A"])
    found: dict[int, tuple[Any, str]] = {}
    for uuid, funnel in zip(funnel_ids, funnels):
        funnel = plain(funnel) or {}
        origin = funnel.get("reused_from_job_id") or uuid
        for calc in funnel.get("survivors", []):
            if calc.get("converged"):
                info = funnel["candidates"][calc["metadata"]["funnel"]["candidate"]]["info"]
                found[int(info["index"])] = (calc, origin)
    maker = RelaxMaker(name=f"hop-network relax {label}", preset=preset, preset_overrides=preset_overrides)
    jobs, entries = [], []
    for node in net.nodes:
        entry = {"site": node.site, "region": node.region, "layer": node.layer, "index": node.index,
                 "multiplicity": len(node.equivalent), "target": node.index in net.targets}
        if node.index in found:
            calc, origin = found[node.index]
            entries.append({**entry, "calc": calc, "job_id": origin, "source": "funnel"})
            continue
        structure = AseAtomsAdaptor.get_structure(without_atom(cell, node.index))
        relax = maker.make(structure, label=f"{label} vacancy {node.site}", kind="defect",
                           metadata={"hop_network": {"system": label, "site": node.site}})
        relax.name = f"hop-network vacancy {label} {node.site}"
        relax.update_metadata({"system": label})
        jobs.append(relax)
        entries.append({**entry, "calc": relax.output, "job_id": relax.uuid, "source": "network"})
    net_job = hop_network(clean, clean_id, label, support, preset, preset_overrides, profile, settings,
                          checkpoint_dir, entries, list(funnel_ids))
    net_job.name = f"hop-network {label}"
    net_job.update_metadata({"system": label})
    net_job.config = _tolerate_missing()
    return Response(addition=Flow([*jobs, net_job], name=f"hop-network nodes {label}"))


def run_band(task: dict[str, Any]):
    """A :class:`~spillover.schemas.neb.NebDoc` of one band (module level: runs on a worker)."""
    from spillover.jobs.neb import NebMaker

    # no max_hop_A: the endpoints are relaxed vacancies, so the moving O may travel farther than the hop's
    # length in the cell (its relaxed neighbours lean into each vacancy); the atom order is fixed by construction
    maker = NebMaker(name=task["label"], preset=task["preset"], preset_overrides=task["preset_overrides"],
                     checkpoint_dir=task["checkpoint_dir"], **task["band"])
    return maker.compute(as_structure(task["initial"]), as_structure(task["final"]), hop=task["hop"],
                         metadata=task["metadata"])


#: Band settings of the study passed on to every NebMaker.
BAND_OVERRIDES = ("n_images", "spring_constant", "fmax", "steps", "optimizer")


def network_hash(clean: dict, preset: str, preset_overrides: dict, profile: dict, settings: dict) -> str:
    """SHA-256 of the relaxed cell's calculation, the preset and every setting the network depends on."""
    from spillover.calculators import load_preset

    from spillover.sections.funnel import DFT_KEYS

    keep = {k: v for k, v in settings.items() if k not in ("systems", "dft_preset", "dft_preset_overrides")}
    if keep.get("split_below_eV") is None:  # off: networks stored before the setting existed keep their hashes
        keep.pop("split_below_eV", None)
    else:  # a split's route may take the whole band's climbing image (2026-12-07): not the first rule's networks
        keep["split_route"] = 2
    # the nodes are the funnels' screen survivors: a DFT stage of those funnels does not change the network
    funnel = {k: v for k, v in profile["funnel"].items() if k not in DFT_KEYS}
    blob = json.dumps({"cell": clean.get("content_hash"), "energy": clean.get("energy_eV"),
                       "preset": load_preset(preset, preset_overrides or None).model_dump(),
                       "depth": profile["support_layers_probed"], "funnel": funnel, "settings": keep},
                      sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _levels(path, energies: dict[int, float], saddle: dict[int, float],
            humps: dict[int, tuple[int, list[float]]] | None = None) -> list[float]:
    """Vacancy, saddle, vacancy, ... energies along a path above its start (eV).

    ``humps``: hop key -> (the node its bands start from, [saddle, intermediate, saddle] on the nodes'
    scale) of each split hop; the path gets all three, in its own direction.
    """
    start = energies[path.start]
    out = [0.0]
    for key, node, before in zip(path.hops, path.nodes[1:], path.nodes):
        if key in (humps or {}):
            origin, levels = humps[key]
            out += [level - start for level in (levels if before == origin else levels[::-1])]
        else:
            out.append(saddle[key] - start)
        out.append(energies[node] - start)
    return out


def split_humps(split: BandSplit, base_eV: float) -> list[float]:
    """First saddle, intermediate, second saddle of a converged split's route on the nodes' scale (eV)."""
    return [base_eV + h for h in split.humps_rel_eV]


def split_calls(split: BandSplit) -> int:
    """Force calls of a split: the intermediate's relaxation and its bands."""
    return split.relax_force_calls + sum(b.force_calls for b in split.bands)


@job(output_schema=HopNetworkDoc)
def hop_network(clean: dict, clean_id: str, label: str, support: str, preset: str, preset_overrides: dict,
                profile: dict, settings: dict, checkpoint_dir: str, entries: list[dict],
                funnel_ids: list[str]) -> Response:
    """Compute the bands the best paths need and store the network with its effective barriers."""
    from jobflow import CURRENT_JOB

    from spillover.analysis.hop_graph import Edge, explore
    from spillover.build.hop_network import band_endpoints, cell_network
    from spillover.build.symmetry import host_symmetry
    from spillover.calculators import load_preset
    from spillover.jobs.band_split import split_bands
    from spillover.jobs.barriers import checkpoint_root
    from spillover.jobs.reuse import stored_copy
    from spillover.workers import map_tasks, worker_count

    started = time.perf_counter()
    clean = plain(clean)
    digest = network_hash(clean, preset, preset_overrides, profile, settings)
    stored = stored_copy(HopNetworkDoc, "hop-network", digest)
    if stored is not None:
        return Response(output=stored, addition=_ladder(stored, stored.reused_from_job_id, settings, checkpoint_dir))
    cell = calc_atoms(clean)
    net = cell_network(cell, profile["support_layers_probed"], settings["cutoff_A"])
    sym = host_symmetry(cell)
    failed: list[str] = []
    nodes, energies, relaxed = [], {}, {}
    for e in entries:
        calc = plain(e["calc"])
        ok = calc is not None and bool(calc.get("converged"))
        if ok:
            energies[e["index"]] = float(calc["energy_eV"])
            relaxed[e["index"]] = calc_atoms(calc).positions
        else:
            failed.append(f"{e['site']}: vacancy relaxation " + ("failed" if calc is None else "not converged"))
        nodes.append(HopNode(site=e["site"], region=e["region"], layer=e["layer"], index=e["index"],
                             multiplicity=e["multiplicity"], target=e["target"],
                             energy_eV=float(calc["energy_eV"]) if calc is not None else None, converged=ok,
                             job_id=e["job_id"], source=e["source"]))
    resolved = load_preset(preset, preset_overrides or None)
    band = {k: settings.get(k) for k in BAND_OVERRIDES if settings.get(k) is not None}
    workers = worker_count()
    edges, broken = [], {}
    for k, hop in enumerate(net.hops):
        u, v = net.ends(hop)
        if u in energies and v in energies:
            edges.append(Edge(k, u, v))
        else:
            broken[k] = "an endpoint vacancy did not converge: excluded"
    edges_by_key = {e.key: e for e in edges}
    docs: dict[int, Any] = {}
    splits: dict[int, BandSplit] = {}

    def compute(batch: list[Edge]) -> dict[int, float | None]:
        tasks = []
        for e in batch:
            hop = net.hops[e.key]
            initial, final = band_endpoints(cell, sym, hop, relaxed)
            tasks.append({
                "label": f"{label} {hop.label}", "preset": preset, "preset_overrides": preset_overrides,
                "checkpoint_dir": checkpoint_dir or checkpoint_root(), "band": band,
                "initial": AseAtomsAdaptor.get_structure(initial).as_dict(),
                "final": AseAtomsAdaptor.get_structure(final).as_dict(),
                "hop": {**hop.to_dict(), "support": support, "system": label},
                "metadata": {"hop_network": {"system": label, "hop": hop.label}},
            })
        out = {}
        results = map_tasks(run_band, tasks, workers)
        below = settings.get("split_below_eV")
        parts = split_bands(list(zip(results, tasks)), below, workers) if below is not None else [None] * len(batch)
        for e, doc, split in zip(batch, results, parts):
            docs[e.key] = doc
            # the saddle on the nodes' scale: initial vacancy (node u, vacancy at to_index) plus the forward barrier
            out[e.key] = energies[e.u] + doc.Ea_forward_eV if doc.converged else None
            if split is not None:
                splits[e.key] = split
                if split.bands:  # the route through the state decides; unconverged split bands exclude the hop
                    out[e.key] = energies[e.u] + split.hop_saddle_rel_eV if split.converged else None
        return out

    starts = {}
    for layer in sorted({n.layer for n in net.nodes if n.region == "support"}):
        level = [n.index for n in net.nodes if n.region == "support" and n.layer == layer and n.index in energies]
        if level:
            starts[layer] = min(level, key=lambda i: (energies[i], i))
        else:
            failed.append(f"L{layer}: no converged vacancy to start from")
    targets = {i for i in net.targets if i in energies}
    found = explore(energies, edges, list(starts.values()), targets, compute, batch=workers,
                    lazy=settings["lazy"])
    ref = min(energies.values()) if energies else 0.0
    site_of = {n.index: n.site for n in net.nodes}
    hop_edges = []
    for k, hop in enumerate(net.hops):
        u, v = net.ends(hop)
        reason = broken.get(k) or found.skipped.get(k)
        bound = max(energies[u], energies[v]) - ref if u in energies and v in energies else None
        hop_edges.append(HopEdge(label=hop.label, kind=hop.region, from_site=site_of[v], to_site=site_of[u],
                                 from_layer=hop.from_layer, to_layer=hop.to_layer, distance_A=hop.distance_A,
                                 multiplicity=hop.multiplicity, hop=hop.to_dict(), lower_bound_eV=bound,
                                 skipped=reason, neb=docs.get(k), split=splits.get(k)))
    humps = {k: (edges_by_key[k].u, split_humps(sp, energies[edges_by_key[k].u]))
             for k, sp in splits.items() if sp.converged}
    paths = []
    for layer, start in starts.items():
        p = found.paths[start]
        if not p.found:
            paths.append(HopPath(from_layer=layer, start_site=site_of[start], E_eff_eV=None,
                                 reason="no path of converged bands reaches the interface"))
            continue
        paths.append(HopPath(from_layer=layer, start_site=site_of[start], E_eff_eV=p.saddle_eV - energies[start],
                             hops=[net.hops[k].label for k in p.hops], sites=[site_of[n] for n in p.nodes],
                             levels_eV=_levels(p, energies, found.saddles, humps)))
    doc = HopNetworkDoc(
        preset=resolved.name, preset_resolved=resolved.model_dump(), system=label, support=support,
        cell_job_id=clean_id, cutoff_A=settings["cutoff_A"], lazy=settings["lazy"], nodes=nodes, edges=hop_edges,
        paths=paths, temperature_K=profile["verdict"]["temperature_K"],
        prefactor_per_s=profile["verdict"]["prefactor_per_s"], funnel_job_ids=list(funnel_ids),
        rounds=found.rounds, n_bands=len(docs),
        force_calls=int(sum(d.force_calls for d in docs.values()) + sum(split_calls(s) for s in splits.values())),
        workers=workers,
        wall_time_s=time.perf_counter() - started, failed=failed, settings=settings, content_hash=digest,
    )
    return Response(output=doc, addition=_ladder(doc, CURRENT_JOB.job.uuid, settings, checkpoint_dir))


def _ladder(doc: HopNetworkDoc, network_id: str, settings: dict, checkpoint_dir: str) -> Flow | None:
    """The DFT band of every hop on a best path, started from its screen band (``dft_preset``), or None.

    ``network_id`` is the job whose network document holds the screen bands.
    """
    from spillover.jobs.neb import NebMaker

    dft = settings.get("dft_preset")
    if not dft:
        return None
    on_paths = {label for p in doc.paths for label in p.hops}
    band = {k: settings.get(k) for k in BAND_OVERRIDES if settings.get(k) is not None}
    jobs = []
    for edge in doc.edges:
        if edge.label not in on_paths or edge.neb is None:
            continue
        firsts = _route_bands(edge)
        for first in firsts:
            maker = NebMaker(name=f"neb {doc.system} {first.label} ({dft})", preset=dft, checkpoint_dir=checkpoint_dir,
                             preset_overrides=settings.get("dft_preset_overrides") or {}, **band)
            initial, final = _band_ends(first)
            new = maker.make(initial, final, hop=first.hop, start_band=first.model_dump(),
                             start_band_source=f"band of job {network_id} at {doc.preset}",
                             metadata={"hop_network": {"system": doc.system, "hop": edge.label}})
            jobs.append(new)
    return Flow(jobs, name=f"hop-network {doc.system} at {dft}") if jobs else None


def _route_bands(edge: HopEdge) -> list:
    """The screen bands a hop's saddle came from: its band, or those of its route through an intermediate."""
    split = edge.split
    if split is None or not split.bands:
        return [edge.neb]
    if split.whole_band_side is None:
        return list(split.bands)
    # the whole band's climbing image gave one hump, the split band of the other side the other
    return [edge.neb, split.bands[2 - split.whole_band_side]]


def _band_ends(neb):
    """Initial and final structures of a stored band (its relaxed endpoints, fixed atoms kept)."""
    from spillover.jobs.band_split import band_image

    return [AseAtomsAdaptor.get_structure(band_image(neb, k)) for k in (0, -1)]
