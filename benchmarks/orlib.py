"""Readers for the location benchmark instances (OR-Library and friends) 标准算例读取.

Each reader returns a typed instance holding numpy arrays, following the conventions of
`shared/data/orlib/README.md` exactly — those conventions break naive readers:

- pmed: a repeated edge takes the *last* cost (not the minimum), then all-pairs shortest paths;
- cap: the cost of serving customer j from facility i is for *all* of j's demand, and capa/b/c
  carry the literal word ``capacity`` instead of a number (the caller supplies it);
- pmedcap: distances are floor(Euclidean);
- sscflp (Holmberg): demands then the m × n cost matrix, facility by facility;
- mclp: coordinates in metres plus a separate ``demand-<name>.dat`` file;
- fcnf: ``N id demand`` and ``A from to subarc fixed var capacity`` lines.

All readers parse whitespace-separated tokens, so wrapped lines and CRLF endings are harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path


class InstanceFormatError(ValueError):
    """The file does not follow the expected benchmark format."""


def _tokens(path: Path) -> list[str]:
    return Path(path).read_text().split()


# --------------------------------------------------------------------------- layouts

LAYOUTS = {
    "pmed": "an OR-Library pmed graph (n edges p, then i j cost per edge)",
    "cap": "an OR-Library cap file (m n; m lines capacity fixed; per customer its demand, "
           "then m costs)",
    "holmberg": "a Holmberg single-source file (m n; m lines capacity fixed; n demands; "
                "then the m × n cost matrix)",
    "pmedcap": "an OR-Library pmedcap file (problem best; n p Q; then id x y demand)",
    "mclp": "a covering points file (count, then x y per point)",
    "fcnf": "a fixed-charge network file (N and A lines)",
}


def detect_layout(path: Path) -> str | None:
    """Which benchmark layout a file follows (a key of `LAYOUTS`), or None for none of them.

    Counted tokens tell most layouts apart; cap and Holmberg files have the same count
    (2 + 2m + n(m + 1)), so their line breaks decide: a cap file starts each customer's block
    (demand, then m costs) on a new line, a Holmberg file its demand list and each of the m
    rows of its cost matrix. The literal word `capacity` (capa/capb/capc) only occurs in cap.
    """
    # Some Holmberg files end in a run of NUL bytes: padding, not data.
    text = Path(path).read_text(errors="replace").replace("\x00", " ")
    lines = [ln for ln in (raw.split() for raw in text.splitlines()) if ln]
    if not lines:
        return None
    if any(ln[0] in ("N", "A", "NODES", "ARCS") or ln[0].startswith("#") for ln in lines):
        return "fcnf"
    tok = [t for ln in lines for t in ln]
    starts = _line_starts(lines)
    head = lines[0]
    ints = _ints(tok[:5])
    if len(head) == 3 and len(ints) >= 3 and len(tok) == 3 + 3 * ints[1]:
        return "pmed"
    if len(head) == 2 and len(lines) > 1 and len(lines[1]) == 3 and len(ints) >= 3 \
            and len(tok) == 5 + 4 * ints[2]:
        return "pmedcap"
    if len(head) == 1 and ints and len(tok) == 1 + 2 * ints[0]:
        return "mclp"
    if len(head) == 2 and len(ints) >= 2:
        m, n = ints[0], ints[1]
        if len(tok) == 2 + 2 * m + n * (m + 1):
            return _cap_or_holmberg(tok, starts, m, n)
    return None


def _ints(tokens: list[str]) -> list[int]:
    out = []
    for t in tokens:
        if not re.fullmatch(r"\d+", t):
            break
        out.append(int(t))
    return out


def _line_starts(lines: list[list[str]]) -> set[int]:
    starts, pos = set(), 0
    for ln in lines:
        starts.add(pos)
        pos += len(ln)
    return starts


def _cap_or_holmberg(tok: list[str], starts: set[int], m: int, n: int) -> str:
    if any(t.lower() == "capacity" for t in tok[2 : 2 + 2 * m : 2]):
        return "cap"
    body = 2 + 2 * m
    cap_blocks = all(body + k * (m + 1) in starts for k in range(n))
    holmberg_rows = body in starts and all(body + n + i * n in starts for i in range(m))
    if holmberg_rows and not cap_blocks:
        return "holmberg"
    return "cap" if cap_blocks else "holmberg"


def require_layout(path: Path, expected: set[str], kind: str) -> str:
    """The file's layout when it is one `kind` can read, else an InstanceFormatError saying
    what the file looks like and what the kind expects."""
    found = detect_layout(path)
    if found in expected:
        return found
    wants = " or ".join(LAYOUTS[e] for e in sorted(expected))
    seen = LAYOUTS[found] if found else "no benchmark layout jiqun knows"
    hint = {"pmed": "pmed or pcenter", "cap": "cap or sscflp", "holmberg": "sscflp",
            "pmedcap": "pmedcap", "mclp": "mclp", "fcnf": "fcnf"}.get(found or "")
    also = f"; use --kind {hint}" if hint else ""
    raise InstanceFormatError(
        f"{Path(path).name} looks like {seen}, but --kind {kind} expects {wants}{also}")


def instance_name(path: Path) -> str:
    """Name used in optima.csv: the file name without `.txt`/`.fcnf.txt`."""
    name = Path(path).name
    for suffix in (".fcnf.txt", ".txt", ".dat"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------- p-median


@dataclass(frozen=True)
class PMedianInstance:
    """Uncapacitated p-median: every vertex a client (需求点) and a candidate site (候选点)."""

    name: str
    distance: np.ndarray  # clients × candidates
    p: int
    weight: np.ndarray  # per client

    @property
    def n_clients(self) -> int:
        return int(self.distance.shape[0])

    @property
    def n_candidates(self) -> int:
        return int(self.distance.shape[1])


def read_pmed(path: Path) -> PMedianInstance:
    """Read an OR-Library `pmedN.txt` graph and turn it into shortest-path distances."""
    tok = _tokens(path)
    n, m, p = (int(t) for t in tok[:3])
    edges = np.asarray(tok[3 : 3 + 3 * m], dtype=np.float64)
    if edges.size != 3 * m:
        raise InstanceFormatError(f"{path}: expected {m} edges")
    edges = edges.reshape(m, 3)
    i = edges[:, 0].astype(np.int64) - 1
    j = edges[:, 1].astype(np.int64) - 1
    cost = edges[:, 2]
    # The last occurrence of an (unordered) edge wins: keep the last index of each pair.
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key = lo * n + hi
    _, last_from_end = np.unique(key[::-1], return_index=True)
    last = m - 1 - last_from_end
    keep = last[lo[last] != hi[last]]  # self-loops add nothing: c(i,i) = 0
    rows = np.concatenate([lo[keep], hi[keep]])
    cols = np.concatenate([hi[keep], lo[keep]])
    vals = np.concatenate([cost[keep], cost[keep]])
    # A zero-cost edge must stay an edge in the sparse graph: nudge it, restore after.
    zero = vals == 0
    vals = np.where(zero, 1e-300, vals)
    graph = csr_matrix((vals, (rows, cols)), shape=(n, n))
    dist = shortest_path(graph, method="D", directed=False)
    dist = np.where(dist < 1e-200, 0.0, dist)
    return PMedianInstance(instance_name(path), dist, p, np.ones(n))


# --------------------------------------------------------------------------- capacitated FL


@dataclass(frozen=True)
class CapacitatedInstance:
    """Capacitated facility location (容量限制选址): cost[i, j] serves all of client j from i."""

    name: str
    capacity: np.ndarray  # per facility
    fixed_cost: np.ndarray  # per facility
    demand: np.ndarray  # per client
    cost: np.ndarray  # facilities × clients, for the whole demand of the client

    @property
    def n_facilities(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_clients(self) -> int:
        return int(self.cost.shape[1])


def read_cap(path: Path, capacity: float | None = None) -> CapacitatedInstance:
    """Read an OR-Library `capNN.txt`/`capa.txt` multi-source CFLP instance.

    capa/capb/capc write the literal word ``capacity`` in the capacity field; the family is
    solved at several capacities, given here as `capacity`. A numeric capacity in the file is
    overridden by `capacity` when one is given.
    """
    tok = _tokens(path)
    m, n = int(tok[0]), int(tok[1])
    pos = 2
    cap = np.empty(m)
    fixed = np.empty(m)
    symbolic = False
    for i in range(m):
        c, f = tok[pos], tok[pos + 1]
        pos += 2
        if c.lower() == "capacity":
            symbolic = True
            cap[i] = np.nan
        else:
            cap[i] = float(c)
        fixed[i] = float(f)
    if capacity is not None:
        cap[:] = float(capacity)
    elif symbolic:
        raise InstanceFormatError(
            f"{path}: capacities are the word 'capacity'; give one with --capacity (e.g. 8000)"
        )
    body = np.asarray(tok[pos : pos + n * (m + 1)], dtype=np.float64)
    if body.size != n * (m + 1):
        raise InstanceFormatError(f"{path}: expected {n} customers with {m} costs each")
    body = body.reshape(n, m + 1)
    name = instance_name(path)
    if capacity is not None and symbolic:
        name = f"{name}_{int(capacity) if float(capacity).is_integer() else capacity}"
    return CapacitatedInstance(name, cap, fixed, body[:, 0].copy(), body[:, 1:].T.copy())


def read_sscflp(path: Path) -> CapacitatedInstance:
    """Read a Holmberg single-source CFLP file: m n; m × (cap fixed); n demands; m × n costs."""
    tok = _tokens(path)
    m, n = int(tok[0]), int(tok[1])
    try:
        nums = np.asarray(tok[2 : 2 + 2 * m + n + m * n], dtype=np.float64)
    except ValueError:  # e.g. capa's word `capacity`: a cap file, not a Holmberg one
        raise InstanceFormatError(f"{path}: not a Holmberg instance (a non-number among "
                                  "its capacities, demands or costs)") from None
    if nums.size != 2 * m + n + m * n:
        raise InstanceFormatError(f"{path}: truncated Holmberg instance")
    fac = nums[: 2 * m].reshape(m, 2)
    demand = nums[2 * m : 2 * m + n]
    cost = nums[2 * m + n :].reshape(m, n)
    return CapacitatedInstance(instance_name(path), fac[:, 0].copy(), fac[:, 1].copy(), demand, cost)


# --------------------------------------------------------------------------- capacitated p-median


@dataclass(frozen=True)
class CapacitatedPMedianInstance:
    """Capacitated p-median (容量限制p-中位): every point a client and a candidate of capacity Q."""

    name: str
    xy: np.ndarray
    demand: np.ndarray
    p: int
    capacity: float
    distance: np.ndarray  # floor(Euclidean), clients × candidates
    reference_value: float | None = None  # the value printed in the file header


def read_pmedcap(path: Path) -> CapacitatedPMedianInstance:
    """Read an OR-Library `pmedcapNN` file (header `problem best`, then `n p Q`, then points)."""
    tok = _tokens(path)
    best = float(tok[1])
    n, p, q = int(tok[2]), int(tok[3]), float(tok[4])
    pts = np.asarray(tok[5 : 5 + 4 * n], dtype=np.float64)
    if pts.size != 4 * n:
        raise InstanceFormatError(f"{path}: expected {n} points")
    pts = pts.reshape(n, 4)
    xy = pts[:, 1:3]
    diff = xy[:, None, :] - xy[None, :, :]
    dist = np.floor(np.sqrt((diff**2).sum(-1)))
    return CapacitatedPMedianInstance(instance_name(path), xy, pts[:, 3].copy(), p, q, dist, best)


# --------------------------------------------------------------------------- covering


@dataclass(frozen=True)
class CoveringInstance:
    """Points with demand (需求) for set covering / maximal covering; all points are candidates."""

    name: str
    xy: np.ndarray  # metres
    demand: np.ndarray

    def distance(self) -> np.ndarray:
        diff = self.xy[:, None, :] - self.xy[None, :, :]
        return np.sqrt((diff**2).sum(-1))


def read_mclp(path: Path, demand_path: Path | None = None) -> CoveringInstance:
    """Read `SJCnnn.txt` (count, then x y) and its `demand-SJCnnn.dat` beside it."""
    path = Path(path)
    if path.name.startswith("demand-"):
        path = path.with_name(path.name[len("demand-") :].replace(".dat", ".txt"))
    tok = _tokens(path)
    n = int(tok[0])
    xy = np.asarray(tok[1 : 1 + 2 * n], dtype=np.float64)
    if xy.size != 2 * n:
        raise InstanceFormatError(f"{path}: expected {n} points")
    demand_path = demand_path or path.with_name(f"demand-{path.stem}.dat")
    if demand_path.exists():
        demand = np.asarray(_tokens(demand_path), dtype=np.float64)
        if demand.size != n:
            raise InstanceFormatError(f"{demand_path}: {demand.size} demands for {n} points")
    else:
        demand = np.ones(n)
    return CoveringInstance(instance_name(path), xy.reshape(n, 2), demand)


# --------------------------------------------------------------------------- fixed-charge flow


@dataclass(frozen=True)
class FixedChargeNetwork:
    """Single-commodity fixed-charge network flow (固定费用网络流); demand = inflow − outflow."""

    name: str
    nodes: list[str]
    demand: np.ndarray
    tail: np.ndarray  # arc origin node index
    head: np.ndarray  # arc destination node index
    fixed_cost: np.ndarray
    unit_cost: np.ndarray
    capacity: np.ndarray  # np.inf when uncapacitated
    arc_labels: list[str] = field(default_factory=list)


def read_fcnf(path: Path) -> FixedChargeNetwork:
    """Read a `.fcnf.txt` file (N and A lines; '#' comments, NODES/ARCS counts)."""
    nodes: list[str] = []
    demand: list[float] = []
    arcs: list[tuple[str, str, str, float, float, float]] = []
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0] == "N":
            nodes.append(parts[1])
            demand.append(float(parts[2]))
        elif parts[0] == "A":
            cap = parts[6] if len(parts) > 6 else "inf"
            arcs.append((parts[1], parts[2], parts[3], float(parts[4]), float(parts[5]),
                         _capacity_value(cap)))
        elif parts[0] not in ("NODES", "ARCS"):
            raise InstanceFormatError(f"{path}: unexpected line {raw!r}")
    index = {nid: k for k, nid in enumerate(nodes)}
    try:
        tail = np.array([index[a[0]] for a in arcs], dtype=np.int64)
        head = np.array([index[a[1]] for a in arcs], dtype=np.int64)
    except KeyError as exc:
        raise InstanceFormatError(f"{path}: arc uses unknown node {exc}") from None
    return FixedChargeNetwork(
        instance_name(path), nodes, np.array(demand), tail, head,
        np.array([a[3] for a in arcs]), np.array([a[4] for a in arcs]),
        np.array([a[5] for a in arcs]), [f"{a[0]}->{a[1]}:{a[2]}" for a in arcs],
    )


def _capacity_value(token: str) -> float:
    return np.inf if re.fullmatch(r"(?i)inf(inity)?|none|-", token) else float(token)
