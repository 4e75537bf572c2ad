"""Pure dependency-graph logic: cycles, topological levels and order, closures, the ready set.

Every function takes ``deps``: job id -> the ids of its upstream jobs. A job that appears
only as an upstream is a node too (with no upstreams of its own). Edges point the way data
flows, upstream -> dependent, so a reported cycle ``["a", "b", "a"]`` reads "a feeds b and
b feeds a". All algorithms are iterative, so a 100,000-node chain needs no recursion; they
are linear in nodes plus edges apart from sorting names, which keeps every answer
deterministic whatever the iteration order of the input collections.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

_Deps = Mapping[str, Iterable[str]]


class CycleError(ValueError):
    """The dependencies loop back on themselves; ``cycle`` is the closed path, first id repeated."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(f"dependency cycle: {' -> '.join(cycle)}")


@dataclass(frozen=True)
class _Graph:
    nodes: list[str]  # sorted
    upstream: dict[str, list[str]]  # each list sorted, without duplicates
    downstream: dict[str, list[str]]  # each list sorted, without duplicates


def _build(deps: _Deps) -> _Graph:
    upstream: dict[str, list[str]] = {}
    for job_id, ups in deps.items():
        if isinstance(ups, str):
            # A bare string is an Iterable[str] of characters: almost surely a mistake.
            raise TypeError(
                f"upstreams of {job_id!r} must be a collection of job ids, not the string {ups!r}"
            )
        upstream[job_id] = sorted(set(ups))
    for ups in list(upstream.values()):
        for up in ups:
            upstream.setdefault(up, [])
    nodes = sorted(upstream)
    downstream: dict[str, list[str]] = {node: [] for node in nodes}
    for node in nodes:  # sorted, so every downstream list comes out sorted
        for up in upstream[node]:
            downstream[up].append(node)
    return _Graph(nodes=nodes, upstream=upstream, downstream=downstream)


def _find_cycle(graph: _Graph) -> list[str] | None:
    """Depth-first search along data-flow edges; the first back edge closes the cycle."""
    done: set[str] = set()
    for start in graph.nodes:
        if start in done:
            continue
        path = [start]
        on_path = {start: 0}
        frames = [iter(graph.downstream[start])]
        while frames:
            for nxt in frames[-1]:
                if nxt in on_path:
                    return [*path[on_path[nxt] :], nxt]
                if nxt not in done:
                    on_path[nxt] = len(path)
                    path.append(nxt)
                    frames.append(iter(graph.downstream[nxt]))
                    break
            else:
                frames.pop()
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
    return None


def _cycle_error(graph: _Graph) -> CycleError:
    cycle = _find_cycle(graph)
    assert cycle is not None, "Kahn's algorithm stalled, so a cycle exists"
    return CycleError(cycle)


def find_cycle(deps: _Deps) -> list[str] | None:
    """A closed path such as ``["a", "b", "c", "a"]`` if the graph has a cycle, else None."""
    return _find_cycle(_build(deps))


def _levels(graph: _Graph) -> dict[str, int]:
    pending = {node: len(ups) for node, ups in graph.upstream.items()}
    level = dict.fromkeys(graph.nodes, 0)
    queue = deque(node for node in graph.nodes if pending[node] == 0)
    seen = 0
    while queue:
        node = queue.popleft()
        seen += 1
        for child in graph.downstream[node]:
            level[child] = max(level[child], level[node] + 1)
            pending[child] -= 1
            if pending[child] == 0:
                queue.append(child)
    if seen < len(graph.nodes):
        raise _cycle_error(graph)
    return level


def topological_levels(deps: _Deps) -> dict[str, int]:
    """Level 0 for nodes without upstreams, else 1 + the highest level among the upstreams."""
    return _levels(_build(deps))


def level_groups(deps: _Deps) -> list[list[str]]:
    """The nodes of each level, level 0 first, each level sorted by id."""
    levels = topological_levels(deps)
    groups: list[list[str]] = [[] for _ in range(max(levels.values(), default=-1) + 1)]
    for node in sorted(levels):
        groups[levels[node]].append(node)
    return groups


def topological_order(deps: _Deps) -> list[str]:
    """Every upstream before its dependents; among nodes free at once, the smallest id first."""
    graph = _build(deps)
    pending = {node: len(ups) for node, ups in graph.upstream.items()}
    heap = [node for node in graph.nodes if pending[node] == 0]
    order: list[str] = []
    while heap:
        node = heapq.heappop(heap)
        order.append(node)
        for child in graph.downstream[node]:
            pending[child] -= 1
            if pending[child] == 0:
                heapq.heappush(heap, child)
    if len(order) < len(graph.nodes):
        raise _cycle_error(graph)
    return order


def _closure(edges: Mapping[str, list[str]], roots: Iterable[str]) -> set[str]:
    start = set(roots)
    reached: set[str] = set()
    stack = [root for root in start if root in edges]
    while stack:
        for nxt in edges[stack.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    return reached - start


def downstream_closure(deps: _Deps, roots: Iterable[str]) -> set[str]:
    """Every job that depends, directly or not, on one of ``roots``; the roots themselves excluded.

    A root that is not in the graph simply has no dependents.
    """
    return _closure(_build(deps).downstream, roots)


def upstream_closure(deps: _Deps, roots: Iterable[str]) -> set[str]:
    """Every job one of ``roots`` depends on, directly or not; the roots themselves excluded."""
    return _closure(_build(deps).upstream, roots)


def dependents(deps: _Deps) -> dict[str, set[str]]:
    """The reverse edges: every node -> the jobs that list it as an upstream (maybe none)."""
    return {node: set(children) for node, children in _build(deps).downstream.items()}


def ready_set(deps: _Deps, finished: Set[str], started: Set[str]) -> set[str]:
    """Nodes neither finished nor started whose upstreams are all finished.

    Pass the dependencies of one batch: an upstream listed in ``deps`` is a node of the
    graph, so it has to finish (or be given as finished) before its dependents are ready.
    """
    graph = _build(deps)
    return {
        node
        for node in graph.nodes
        if node not in finished
        and node not in started
        and all(up in finished for up in graph.upstream[node])
    }
