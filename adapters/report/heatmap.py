"""The guard measurements as a layer × matrix-type grid: one value per measured matrix, flagged ones marked.

Spectral: r = ln(σ_subject / σ_baseline), the statistic the spectral guard judges. RMT: ln(e_s / e_b) with
e = σ_max / λ₊ (the MP edge ratio). A name like `model.layers.12.mlp.down_proj.weight` (or `h.3.attn.c_attn`,
`encoder.layer.5.attention.self.query`) gives layer 12 and type `mlp.down_proj`; matrices outside the
numbered blocks (embeddings, heads) are listed beside the grid instead.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from invarlock.domain import certificate as c
from invarlock.domain.guards.sections import RmtSection, SpectralSection

_BLOCK = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d{1,9})\.(.+?)(?:\.weight)?$")


@dataclass(frozen=True)
class Entry:
    """One measured matrix: its name, its value (None when undefined, e.g. σ = 0) and whether it was flagged."""

    name: str
    value: float | None
    flagged: bool


@dataclass(frozen=True)
class Grid:
    """Entries keyed by (layer, type) in model order, and the matrices that sit outside the numbered blocks."""

    guard: str
    statistic: str
    layers: list[int]
    types: list[str]
    cells: dict[tuple[int, str], Entry]
    outside: list[Entry]

    @functools.cached_property  # read for every cell: a property rescanning them made a render quadratic
    def flagged(self) -> set[str]:
        """Names of every flagged matrix, in the grid or outside it."""
        return {e.name for e in [*self.cells.values(), *self.outside] if e.flagged}

    @functools.cached_property
    def extent(self) -> float:
        """The largest |value| (the colour scale runs over ±extent); 0 when nothing has a value."""
        values = [abs(e.value) for e in [*self.cells.values(), *self.outside] if e.value is not None]
        return max(values, default=0.0)


def block_of(name: str) -> tuple[int, str] | None:
    """(layer, matrix type) for a matrix inside a numbered block, None for any other name."""
    found = _BLOCK.search(name)
    return (int(found.group(1)), found.group(2)) if found else None


def _grid(guard: str, statistic: str, entries: list[Entry]) -> Grid:
    cells: dict[tuple[int, str], Entry] = {}
    outside: list[Entry] = []
    types: list[str] = []
    for entry in entries:
        where = block_of(entry.name)
        if where is None or where in cells:
            outside.append(entry)
            continue
        cells[where] = entry
        types += [where[1]] if where[1] not in types else []
    layers = sorted({layer for layer, _ in cells})
    return Grid(guard, statistic, layers, types, cells, outside)


def _log_ratio(num: float | None, den: float | None) -> float | None:
    """ln(num/den) as the guards define it: 0 for equal values (both None included), None without a finite log."""
    if num == den:
        return 0.0
    ratio = num / den if num is not None and den else 0.0
    return math.log(ratio) if 0.0 < ratio < math.inf else None


def spectral_grid(section: SpectralSection) -> Grid:
    """ln σ ratio per matrix; flagged = the spectral outcome's violations."""
    flagged = {v.name for v in section.violations}
    entries = [
        Entry(m.name, _log_ratio(m.sigma_subject, m.sigma_baseline), m.name in flagged)
        for m in section.measurements.matrices
    ]
    return _grid("spectral", "ln(σ_subject / σ_baseline)", entries)


def rmt_grid(section: RmtSection) -> Grid:
    """ln edge-ratio change per matrix; flagged = the RMT outcome's violations."""
    flagged = {v.name for v in section.violations}
    entries = []
    for m in section.measurements.matrices:
        e_b, e_s = m.baseline.edge_ratio, m.subject.edge_ratio
        entries.append(Entry(m.name, _log_ratio(e_s, e_b), m.name in flagged))
    return _grid("rmt", "ln(e_subject / e_baseline), e = σ_max / λ₊", entries)


def guard_grids(cert: c.Certificate) -> list[Grid]:
    """A grid for each weight guard the certificate measured (spectral, RMT)."""
    grids = []
    if cert.guards.spectral is not None:
        grids.append(spectral_grid(cert.guards.spectral))
    if cert.guards.rmt is not None:
        grids.append(rmt_grid(cert.guards.rmt))
    return grids
