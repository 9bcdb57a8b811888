//! The task graph of a workflow by index: upstream and downstream edges, group membership,
//! a stable topological order, ancestors and descendants, and cycles. Tolerates invalid
//! specs (unknown ids are dropped, duplicates resolve to the first task), so validation can
//! use it before it knows the spec is sound.

use super::spec::{TaskKind, TaskNode, WorkflowSpec};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

/// Indexes of a workflow's tasks and their relations.
#[derive(Debug)]
pub(crate) struct Graph<'s> {
    pub(crate) tasks: &'s [TaskNode],
    /// Task id → index of its first task.
    pub(crate) index: HashMap<&'s str, usize>,
    /// `deps[i]`: indexes of `depends_on` of task `i` that exist, without repeats.
    pub(crate) deps: Vec<Vec<usize>>,
    /// `dependents[i]`: tasks whose `depends_on` names task `i`, in file order.
    pub(crate) dependents: Vec<Vec<usize>>,
    /// `members[g]`: the member indexes of group `g` (empty for other tasks).
    pub(crate) members: Vec<Vec<usize>>,
    /// `group_of[m]`: the first group listing task `m`.
    pub(crate) group_of: Vec<Option<usize>>,
}

impl<'s> Graph<'s> {
    pub(crate) fn new(spec: &'s WorkflowSpec) -> Graph<'s> {
        let tasks = spec.tasks.as_slice();
        let mut index = HashMap::new();
        for (at, task) in tasks.iter().enumerate() {
            index.entry(task.id.as_str()).or_insert(at);
        }
        let mut deps = vec![Vec::new(); tasks.len()];
        let mut dependents = vec![Vec::new(); tasks.len()];
        let mut members = vec![Vec::new(); tasks.len()];
        let mut group_of = vec![None; tasks.len()];
        for (at, task) in tasks.iter().enumerate() {
            for dep in &task.depends_on {
                if let Some(&up) = index.get(dep.as_str())
                    && !deps[at].contains(&up)
                {
                    deps[at].push(up);
                    dependents[up].push(at);
                }
            }
            if let TaskKind::Group(group) = &task.kind {
                for member in &group.tasks {
                    if let Some(&m) = index.get(member.as_str())
                        && m != at
                        && !members[at].contains(&m)
                    {
                        members[at].push(m);
                        group_of[m].get_or_insert(at);
                    }
                }
            }
        }
        Graph {
            tasks,
            index,
            deps,
            dependents,
            members,
            group_of,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    pub(crate) fn id(&self, at: usize) -> &'s str {
        self.tasks[at].id.as_str()
    }

    pub(crate) fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// What a task waits for before it can start: its dependencies, and for a group member
    /// its group.
    fn gates(&self, at: usize) -> impl Iterator<Item = usize> + '_ {
        self.deps[at].iter().copied().chain(self.group_of[at])
    }

    /// Every task in an order where each comes after its dependencies and after its group,
    /// ties broken by file order; `None` when there is a cycle.
    pub(crate) fn topological_order(&self) -> Option<Vec<usize>> {
        let mut waiting: Vec<usize> = (0..self.len()).map(|at| self.gates(at).count()).collect();
        let mut after: Vec<Vec<usize>> = vec![Vec::new(); self.len()];
        for at in 0..self.len() {
            for gate in self.gates(at) {
                after[gate].push(at);
            }
        }
        let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = (0..self.len())
            .filter(|&at| waiting[at] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(std::cmp::Reverse(at)) = ready.pop() {
            order.push(at);
            for &next in &after[at] {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push(std::cmp::Reverse(next));
                }
            }
        }
        (order.len() == self.len()).then_some(order)
    }

    /// Tasks whose outcome happened before task `at` can start: its dependencies, their
    /// ancestors, the members of any group among them, and for a group member its group's
    /// ancestors. Excludes `at` itself unless it is on a cycle.
    pub(crate) fn ancestors(&self, at: usize) -> BTreeSet<usize> {
        self.ancestors_nearest_first(at).into_iter().collect()
    }

    /// The tasks of [`Graph::ancestors`], nearest first: a breadth-first walk up the graph
    /// from `at`, visiting each task's dependencies in `depends_on` order, then (for a group
    /// member) its group's dependencies, then (for a group) its members. Each task once.
    pub(crate) fn ancestors_nearest_first(&self, at: usize) -> Vec<usize> {
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        let mut queue: VecDeque<usize> = self.gate_sources(at).collect();
        while let Some(next) = queue.pop_front() {
            if !seen.insert(next) {
                continue;
            }
            order.push(next);
            queue.extend(self.gate_sources(next));
            // A group finishes after its members: their outputs exist downstream of it.
            queue.extend(self.members[next].iter().copied());
        }
        order
    }

    /// For ancestry: dependencies, and the dependencies of the group a member belongs to.
    fn gate_sources(&self, at: usize) -> impl Iterator<Item = usize> + '_ {
        let group_deps = self.group_of[at]
            .into_iter()
            .flat_map(|group| self.deps[group].iter().copied());
        self.deps[at].iter().copied().chain(group_deps)
    }

    /// The tasks that clearing task `at` re-runs, `at` included: everything downstream of
    /// it. Clearing a group clears its members; clearing a member clears its group (whose
    /// outcome depends on it) and what is downstream of the group, but not the other
    /// members.
    pub(crate) fn clear_closure(&self, at: usize) -> BTreeSet<usize> {
        let mut cleared = BTreeSet::new();
        // (task, whether its members are cleared too)
        let mut queue = VecDeque::from([(at, true)]);
        while let Some((next, with_members)) = queue.pop_front() {
            let first_visit = cleared.insert(next);
            if with_members {
                for &member in &self.members[next] {
                    queue.push_back((member, true));
                }
            }
            if !first_visit {
                continue;
            }
            for &down in &self.dependents[next] {
                queue.push_back((down, true));
            }
            if let Some(group) = self.group_of[next] {
                queue.push_back((group, false));
            }
        }
        cleared
    }

    /// Tasks no other task depends on and that are not group members: the run's outcome is
    /// decided by them (Airflow decides a DAG run's state by its leaves).
    pub(crate) fn leaves(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&at| self.dependents[at].is_empty() && self.group_of[at].is_none())
            .collect()
    }

    /// Every dependency cycle, one per strongly connected component (a task depending on
    /// itself is left to the caller), as the path from the component's first task in file
    /// order back to itself, in flow order (upstream → downstream): `[a, b, a]` means `b`
    /// depends on `a` and `a` on `b`, so the first task's `depends_on` closes the cycle.
    pub(crate) fn cycles(&self) -> Vec<Vec<usize>> {
        let mut graph: DiGraph<usize, ()> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..self.len()).map(|at| graph.add_node(at)).collect();
        for (at, deps) in self.deps.iter().enumerate() {
            for &up in deps {
                if up != at {
                    graph.add_edge(nodes[up], nodes[at], ());
                }
            }
        }
        let mut cycles: Vec<Vec<usize>> = tarjan_scc(&graph)
            .into_iter()
            .filter(|component| component.len() > 1)
            .filter_map(|component| {
                let members: BTreeSet<usize> = component.iter().map(|node| graph[*node]).collect();
                let start = *members.first()?;
                self.shortest_cycle(start, &members)
            })
            .collect();
        cycles.sort();
        cycles
    }

    /// The shortest path `start → … → start` along dependents within `within`, by
    /// breadth-first search (ties by file order).
    fn shortest_cycle(&self, start: usize, within: &BTreeSet<usize>) -> Option<Vec<usize>> {
        let mut came_from: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(next) = queue.pop_front() {
            for &down in &self.dependents[next] {
                if down == next || !within.contains(&down) {
                    continue;
                }
                if down == start {
                    let mut path = vec![next];
                    let mut at = next;
                    while at != start {
                        at = *came_from.get(&at)?;
                        path.push(at);
                    }
                    path.reverse();
                    path.push(start);
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(entry) = came_from.entry(down) {
                    entry.insert(next);
                    queue.push_back(down);
                }
            }
        }
        None
    }
}
