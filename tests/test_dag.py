"""Tests for the pure graph logic, checked against networkx on generated graphs."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl_orchestrator.dag import (
    CycleError,
    dependents,
    downstream_closure,
    find_cycle,
    level_groups,
    ready_set,
    topological_levels,
    topological_order,
    upstream_closure,
)

NAMES = [f"job_{letter}" for letter in "abcdefghijkl"]


@st.composite
def any_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    """Graphs that may hold cycles and self-loops; some nodes appear only as upstreams."""
    keys = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=len(NAMES)))
    return {key: draw(st.lists(st.sampled_from(NAMES), max_size=4)) for key in keys}


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    """Edges only from earlier to later positions of a random order, so never a cycle."""
    order = draw(st.permutations(NAMES))
    size = draw(st.integers(min_value=0, max_value=len(order)))
    deps: dict[str, list[str]] = {}
    for position, node in enumerate(order[:size]):
        earlier = order[:position]
        deps[node] = draw(st.lists(st.sampled_from(earlier), max_size=4)) if earlier else []
    return deps


def to_networkx(deps: Mapping[str, list[str]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    for job, ups in deps.items():
        graph.add_node(job)
        for up in ups:
            graph.add_edge(up, job)
    return graph


@given(acyclic_graphs())
def test_levels_equal_networkx_topological_generations(deps: dict[str, list[str]]) -> None:
    expected = {
        node: index
        for index, generation in enumerate(nx.topological_generations(to_networkx(deps)))
        for node in generation
    }
    assert topological_levels(deps) == expected


@given(acyclic_graphs())
def test_level_groups_are_the_sorted_generations(deps: dict[str, list[str]]) -> None:
    expected = [sorted(gen) for gen in nx.topological_generations(to_networkx(deps))]
    assert level_groups(deps) == expected


@given(acyclic_graphs())
def test_topological_order_is_networkx_lexicographic_sort(deps: dict[str, list[str]]) -> None:
    assert topological_order(deps) == list(nx.lexicographical_topological_sort(to_networkx(deps)))


@given(any_graphs())
def test_cycle_is_found_exactly_when_networkx_finds_the_graph_cyclic(
    deps: dict[str, list[str]],
) -> None:
    acyclic = nx.is_directed_acyclic_graph(to_networkx(deps))
    assert (find_cycle(deps) is None) == acyclic


@given(any_graphs())
def test_every_reported_cycle_is_a_closed_path_of_real_edges(deps: dict[str, list[str]]) -> None:
    cycle = find_cycle(deps)
    if cycle is None:
        return
    graph = to_networkx(deps)
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, "no node repeats inside the cycle"
    for up, job in itertools.pairwise(cycle):
        assert graph.has_edge(up, job)


@given(any_graphs())
def test_ordering_functions_raise_cycle_error_carrying_the_found_cycle(
    deps: dict[str, list[str]],
) -> None:
    cycle = find_cycle(deps)
    for function in (topological_levels, level_groups, topological_order):
        if cycle is None:
            function(deps)
        else:
            with pytest.raises(CycleError) as caught:
                function(deps)
            assert caught.value.cycle == cycle


@given(any_graphs(), st.randoms(use_true_random=False))
def test_find_cycle_ignores_the_order_of_keys_and_upstreams(
    deps: dict[str, list[str]], rnd: random.Random
) -> None:
    keys = list(deps)
    rnd.shuffle(keys)
    shuffled = {key: rnd.sample(deps[key], len(deps[key])) for key in keys}
    assert find_cycle(shuffled) == find_cycle(deps)


@given(any_graphs(), st.lists(st.sampled_from(NAMES), max_size=3))
def test_closures_equal_networkx_descendants_and_ancestors(
    deps: dict[str, list[str]], roots: list[str]
) -> None:
    graph = to_networkx(deps)
    inside = [root for root in roots if root in graph]
    below = set().union(*(nx.descendants(graph, root) for root in inside)) - set(roots)
    above = set().union(*(nx.ancestors(graph, root) for root in inside)) - set(roots)
    assert downstream_closure(deps, roots) == below
    assert upstream_closure(deps, roots) == above


@given(any_graphs())
def test_dependents_lists_every_node_with_its_networkx_successors(
    deps: dict[str, list[str]],
) -> None:
    graph = to_networkx(deps)
    assert dependents(deps) == {node: set(graph.successors(node)) for node in graph}


@given(any_graphs(), st.sets(st.sampled_from(NAMES)), st.sets(st.sampled_from(NAMES)))
def test_ready_set_holds_unstarted_nodes_whose_predecessors_all_finished(
    deps: dict[str, list[str]], finished: set[str], started: set[str]
) -> None:
    graph = to_networkx(deps)
    expected = {
        node
        for node in graph
        if node not in finished | started and set(graph.predecessors(node)) <= finished
    }
    assert ready_set(deps, finished, started) == expected


def test_diamond_has_three_levels_and_runs_the_join_last() -> None:
    deps = {"extract": [], "clean": ["extract"], "enrich": ["extract"], "load": ["clean", "enrich"]}
    assert topological_levels(deps) == {"extract": 0, "clean": 1, "enrich": 1, "load": 2}
    assert level_groups(deps) == [["extract"], ["clean", "enrich"], ["load"]]
    assert topological_order(deps) == ["extract", "clean", "enrich", "load"]
    assert downstream_closure(deps, ["clean"]) == {"load"}
    assert upstream_closure(deps, ["load"]) == {"extract", "clean", "enrich"}


def test_diamond_join_becomes_ready_only_after_both_branches_finish() -> None:
    deps = {"clean": ["extract"], "enrich": ["extract"], "load": ["clean", "enrich"]}
    assert ready_set(deps, finished=set(), started=set()) == {"extract"}
    assert ready_set(deps, finished=set(), started={"extract"}) == set()
    assert ready_set(deps, finished={"extract"}, started=set()) == {"clean", "enrich"}
    assert ready_set(deps, finished={"extract", "clean"}, started={"enrich"}) == set()
    assert ready_set(deps, finished={"extract", "clean", "enrich"}, started=set()) == {"load"}


def test_fan_out_puts_every_child_on_level_one() -> None:
    deps = {f"child_{n}": ["root"] for n in range(5)}
    assert level_groups(deps) == [["root"], [f"child_{n}" for n in range(5)]]
    assert dependents(deps)["root"] == set(deps)
    assert downstream_closure(deps, ["root"]) == set(deps)


def test_node_named_only_as_upstream_is_a_level_zero_node() -> None:
    assert topological_levels({"report": ["raw"]}) == {"raw": 0, "report": 1}
    assert dependents({"report": ["raw"]}) == {"raw": {"report"}, "report": set()}


def test_self_loop_is_a_one_node_cycle() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    with pytest.raises(CycleError, match=r"^dependency cycle: a -> a$"):
        topological_levels({"a": ["a"]})


def test_two_node_cycle_is_reported_in_data_flow_order() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": ["a"]}
    assert find_cycle(deps) == ["a", "b", "a"]
    with pytest.raises(CycleError) as caught:
        topological_order(deps)
    assert caught.value.cycle == ["a", "b", "a"]
    assert str(caught.value) == "dependency cycle: a -> b -> a"


def test_three_node_cycle_behind_an_acyclic_prefix_is_found() -> None:
    deps = {"b": ["a", "d"], "c": ["b"], "d": ["c"]}
    assert find_cycle(deps) == ["b", "c", "d", "b"]


def test_duplicate_upstreams_count_once() -> None:
    deps = {"b": ["a", "a"], "c": ["b", "a", "b"]}
    assert topological_levels(deps) == {"a": 0, "b": 1, "c": 2}
    assert ready_set(deps, finished={"a"}, started=set()) == {"b"}


def test_empty_graph_has_no_levels_and_no_cycle() -> None:
    assert topological_levels({}) == {}
    assert level_groups({}) == []
    assert topological_order({}) == []
    assert find_cycle({}) is None


def test_closure_of_an_unknown_root_is_empty() -> None:
    assert downstream_closure({"b": ["a"]}, ["zzz"]) == set()
    assert upstream_closure({"b": ["a"]}, ["zzz"]) == set()


def test_string_given_as_upstreams_is_rejected_with_the_job_named() -> None:
    with pytest.raises(TypeError, match="upstreams of 'load' must be a collection"):
        topological_levels({"load": "extract"})


def test_hundred_thousand_node_chain_needs_no_recursion() -> None:
    size = 100_000
    names = [f"n{index:06d}" for index in range(size)]
    chain = {names[index]: [names[index - 1]] for index in range(1, size)}
    levels = topological_levels(chain)
    assert levels[names[-1]] == size - 1
    assert topological_order(chain) == names
    assert downstream_closure(chain, [names[0]]) == set(names[1:])
    chain[names[0]] = [names[-1]]
    cycle = find_cycle(chain)
    assert cycle is not None
    assert len(cycle) == size + 1
