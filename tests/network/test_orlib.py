"""Instance readers against the real files' first lines and the README's traps."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks import orlib as readers


def test_pmed_repeated_edge_takes_the_last_cost(tmp_path):
    # Edge 1-2 appears twice: 5 then 9. The last one wins, so the path via 3 (4+4=8) is shorter.
    f = tmp_path / "tiny.txt"
    f.write_text("3 4 1\n1 2 5\n2 3 4\n1 3 4\n2 1 9\n")
    inst = readers.read_pmed(f)
    assert inst.p == 1
    assert inst.distance[0, 1] == 8.0  # min(9, 4 + 4), never the first cost 5
    assert inst.distance[1, 0] == 8.0
    assert np.all(np.diag(inst.distance) == 0)


def test_pmed1_reads_graph_and_shortest_paths(orlib):
    inst = readers.read_pmed(orlib / "pmed/pmed1.txt")
    assert (inst.n_clients, inst.n_candidates, inst.p) == (100, 100, 5)
    d = inst.distance
    assert np.allclose(d, d.T) and np.all(np.diag(d) == 0) and np.isfinite(d).all()
    # pmed1 lists edge 19-20 first with cost 22 then with 30: the graph keeps 30.
    assert d[18, 19] <= 30.0
    # Triangle inequality holds after all-pairs shortest paths.
    assert np.all(d[:, :, None] <= d[:, None, :].transpose(0, 2, 1) + d[None, :, :] + 1e-9)


def test_cap41_costs_are_for_whole_demand(orlib):
    inst = readers.read_cap(orlib / "cap/cap41.txt")
    assert (inst.n_facilities, inst.n_clients) == (16, 50)
    assert inst.capacity[0] == 5000 and inst.fixed_cost[0] == 7500
    assert inst.demand[0] == 146
    assert inst.cost[0, 0] == pytest.approx(6739.725) and inst.cost[1, 0] == pytest.approx(10355.05)
    assert inst.cost[15, 0] == pytest.approx(6051.7)


def test_capa_needs_a_capacity(orlib):
    with pytest.raises(readers.InstanceFormatError, match="capacity"):
        readers.read_cap(orlib / "cap/capa.txt")
    inst = readers.read_cap(orlib / "cap/capa.txt", capacity=8000)
    assert inst.name == "capa_8000"
    assert (inst.n_facilities, inst.n_clients) == (100, 1000)
    assert np.all(inst.capacity == 8000) and inst.fixed_cost[0] == 2141200
    assert inst.demand[:3].tolist() == [56, 84, 30]


def test_pmedcap_floor_euclidean_and_crlf(orlib):
    inst = readers.read_pmedcap(orlib / "pmedcap/pmedcap01.txt")
    assert (inst.xy.shape[0], inst.p, inst.capacity, inst.reference_value) == (50, 5, 120, 713)
    assert inst.xy[1].tolist() == [80, 25] and inst.demand[1] == 14
    expected = np.floor(np.hypot(*(inst.xy[0] - inst.xy[1])))
    assert inst.distance[0, 1] == expected


def test_holmberg_demands_then_cost_matrix(orlib):
    inst = readers.read_sscflp(orlib / "sscflp/holmberg_p1.txt")
    assert (inst.n_facilities, inst.n_clients) == (10, 50)
    assert inst.capacity[:2].tolist() == [258, 128] and inst.fixed_cost[:2].tolist() == [366, 314]
    assert inst.demand[:3].tolist() == [49, 29, 23]


def test_mclp_reads_points_and_demand_file(orlib):
    inst = readers.read_mclp(orlib / "mclp/SJC324.txt")
    assert inst.xy.shape == (324, 2) and inst.xy[0].tolist() == [409154, 435528]
    assert inst.demand[:3].tolist() == [50, 4, 33]


def test_fcnf_nodes_arcs_and_parallel_subarcs(orlib):
    net = readers.read_fcnf(orlib / "fcnf/k10x90.fcnf.txt")
    assert len(net.nodes) == 10 and net.tail.size == 90
    assert net.demand.sum() == 0 and net.demand[0] == -19
    assert (net.fixed_cost[0], net.unit_cost[0], net.capacity[0]) == (13, 4, 100)


@pytest.mark.parametrize(("folder", "layout"), [
    ("pmed", "pmed"), ("cap", "cap"), ("sscflp", "holmberg"), ("pmedcap", "pmedcap"),
    ("fcnf", "fcnf"),
])
def test_every_shared_file_is_told_apart(orlib, folder, layout):
    files = sorted((orlib / folder).glob("*.txt"))
    assert files
    assert {f.name: readers.detect_layout(f) for f in files} == {f.name: layout for f in files}


def test_covering_points_file(orlib):
    assert readers.detect_layout(orlib / "mclp/SJC324.txt") == "mclp"


# The same 18 numbers in both layouts (m = 2 sites, n = 4 customers): only the lines differ.
CAP_TINY = "2 4\n10 5\n12 6\n4 8 9\n5 3 7\n6 2 2\n3 1 4\n"
HOLMBERG_TINY = "2 4\n10 5\n12 6\n4 5 6 3\n8 3 2 1\n9 7 2 4\n"


def test_cap_and_holmberg_with_the_same_count_are_told_apart_by_their_lines(tmp_path):
    cap, holmberg = tmp_path / "cap.txt", tmp_path / "holmberg.txt"
    cap.write_text(CAP_TINY)
    holmberg.write_text(HOLMBERG_TINY)
    assert readers.detect_layout(cap) == "cap"
    assert readers.detect_layout(holmberg) == "holmberg"
    a, b = readers.read_cap(cap), readers.read_sscflp(holmberg)
    assert a.demand.tolist() == b.demand.tolist() == [4, 5, 6, 3]
    assert np.array_equal(a.cost, b.cost)


def test_the_word_capacity_means_cap_and_trailing_nuls_are_padding(tmp_path):
    capa_like = tmp_path / "capz.txt"
    capa_like.write_text(CAP_TINY.replace("10 5", " capacity 5").replace("12 6", " capacity 6"))
    assert readers.detect_layout(capa_like) == "cap"
    padded = tmp_path / "h.txt"
    padded.write_bytes(HOLMBERG_TINY.encode() + b"\x00" * 40)
    assert readers.detect_layout(padded) == "holmberg"


def test_holmberg_reader_refuses_the_word_capacity(tmp_path):
    f = tmp_path / "capz.txt"
    f.write_text(CAP_TINY.replace("10 5", " capacity 5"))
    with pytest.raises(readers.InstanceFormatError, match="not a Holmberg instance"):
        readers.read_sscflp(f)
