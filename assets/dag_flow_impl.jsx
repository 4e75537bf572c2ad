// React Flow (@xyflow/react 12) for the console's dependency graph.
//
// Props: nodes ({job_id, level, status, blocked_by, enabled, x, y, focus, upstreams}),
// edges ({source, target, dep_type}), bands ({level, x, top, bottom, count}) for the level
// columns, and two small live maps merged into the nodes: statuses (job -> status) and
// blocked (job -> "x, y"), so a status change never resends the graph's structure.
// React Flow keeps its own node state (measured sizes feed the minimap and fitView), synced
// from the props in effects. Its styles (dag_flow.css) come with the frame, dag_flow.jsx.
import React, { memo, useEffect, useMemo } from "react";
import {
  Background,
  BaseEdge,
  Controls,
  Handle,
  MarkerType,
  MiniMap,
  Position,
  ReactFlow,
  ViewportPortal,
  getBezierPath,
  useEdgesState,
  useNodesState,
} from "@xyflow/react";
import { Link } from "react-router";
import "@xyflow/react/dist/style.css";

// Status glyphs: the status is always written out too; the glyph and colour only help.
const ICONS = {
  succeeded: "✓",
  failed: "✕",
  upstream_failed: "⊘",
  cancelled: "■",
  running: "▶",
  dispatched: "➜",
  retrying: "↻",
  queued: "…",
  waiting: "⏸",
  never: "○",
};
// Okabe–Ito, a palette told apart with every common colour-vision deficiency (minimap only;
// nodes take theirs from dag_flow.css).
const MINIMAP = {
  succeeded: "#009E73",
  failed: "#D55E00",
  upstream_failed: "#E69F00",
  cancelled: "#999999",
  running: "#0072B2",
  dispatched: "#56B4E9",
  retrying: "#F0E442",
  queued: "#BBBBBB",
  waiting: "#CC79A7",
  never: "#DDDDDD",
};

// Nodes have a fixed size and declared handles, so React Flow can draw the edges in its first
// pass instead of measuring 500 nodes before any edge appears (keep in step with dag_flow.css).
const NODE_W = 220;
const NODE_H = 70;
const HANDLES = [
  { id: null, type: "target", position: Position.Left, x: 0, y: NODE_H / 2 - 1, width: 1, height: 2 },
  { id: null, type: "source", position: Position.Right, x: NODE_W - 1, y: NODE_H / 2 - 1, width: 1, height: 2 },
];

function label(status) {
  return status === "never" ? "no runs yet" : status.replace(/_/g, " ");
}

const JobNode = memo(function JobNode({ data }) {
  const { job_id, level, status, blocked_by, enabled, focus, upstreams } = data;
  const classes = ["etl-dag-node", `etl-dag-s-${status}`];
  if (blocked_by) classes.push("etl-dag-blocked");
  if (focus) classes.push("etl-dag-focus");
  const about = `Level ${level}` + (upstreams ? `; upstream: ${upstreams}` : "; no upstream");
  return (
    <>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <Link
        to={`/jobs/${encodeURIComponent(job_id)}`}
        className={classes.join(" ")}
        data-job={job_id}
        data-status={status}
        data-level={level}
        data-blocked-by={blocked_by || undefined}
        aria-current={focus ? "page" : undefined}
        title={about}
      >
        <span className="etl-dag-name">{job_id}</span>
        <span className="etl-dag-status">
          <span aria-hidden="true" className="etl-dag-icon">{ICONS[status] || "•"}</span>{" "}
          {label(status)}
          {enabled ? "" : " · disabled"}
        </span>
        {blocked_by ? (
          <span className="etl-dag-blocked-by">
            <span aria-hidden="true">⚠</span> blocked by {blocked_by}
          </span>
        ) : null}
      </Link>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </>
  );
});

const DependencyEdge = memo(function DependencyEdge(props) {
  const { sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition } = props;
  const [path] = getBezierPath({
    sourceX, sourceY, sourcePosition, targetX, targetY, targetPosition,
  });
  return (
    <g className={`etl-dag-edge etl-dag-edge-${props.data.dep_type}`} data-dep-type={props.data.dep_type}>
      <title>{`${props.source} → ${props.target}: ${props.data.dep_type} dependency`}</title>
      <BaseEdge id={props.id} path={path} markerEnd={props.markerEnd} interactionWidth={14} />
    </g>
  );
});

// Module level, so React Flow does not see new types (and remount every node) each render.
const nodeTypes = { job: JobNode };
const edgeTypes = { dependency: DependencyEdge };
const proOptions = { hideAttribution: true };
// A graph bigger than this opens at a readable zoom on its first levels and renders only what
// is in view (the minimap and "Fit view" show the rest), so 500 jobs are usable at once.
const LARGE = 150;
const START_ZOOM = 0.6;
const fitViewOptions = { padding: 0.15, minZoom: 0.05 };

function merged(node, statuses, blocked) {
  const live = statuses && Object.keys(statuses).length > 0;
  return {
    ...node,
    status: (live && statuses[node.job_id]) || node.status,
    blocked_by: live ? blocked[node.job_id] || "" : node.blocked_by,
  };
}

function toFlowNode(node, statuses, blocked) {
  const data = merged(node, statuses, blocked);
  return {
    id: node.job_id,
    type: "job",
    position: { x: node.x, y: node.y },
    data,
    width: NODE_W,
    height: NODE_H,
    // Known without measuring: nodes outside the view (never rendered) still count as sized,
    // so "Fit view" and the minimap take them in.
    measured: { width: NODE_W, height: NODE_H },
    handles: HANDLES,
    ariaRole: "group",
    ariaLabel: `${node.job_id}, level ${node.level}`,
    draggable: false,
    selectable: false,
    connectable: false,
    focusable: false,
  };
}

function toFlowEdge(edge) {
  return {
    id: `${edge.source}->${edge.target}`,
    source: edge.source,
    target: edge.target,
    type: "dependency",
    data: { dep_type: edge.dep_type },
    ariaLabel: `${edge.source} to ${edge.target}, ${edge.dep_type} dependency`,
    markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
    focusable: false,
    selectable: false,
  };
}

function Bands({ bands }) {
  return (
    <ViewportPortal>
      {bands.map((band) => (
        <div
          key={band.level}
          className="etl-dag-band"
          style={{
            transform: `translate(${band.x - 30}px, ${band.top - 70}px)`,
            height: `${band.bottom - band.top + 150}px`,
          }}
        >
          <span className="etl-dag-band-label">
            Level {band.level} · {band.count} {band.count === 1 ? "job" : "jobs"}
          </span>
        </div>
      ))}
    </ViewportPortal>
  );
}

export default function DagFlowImpl({
  nodes: graphNodes = [],
  edges: graphEdges = [],
  bands = [],
  statuses = {},
  blocked = {},
  colorMode = "light",
  label: graphLabel = "Dependency graph",
}) {
  const [nodes, setNodes, onNodesChange] = useNodesState([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState([]);

  useEffect(() => {
    setNodes(graphNodes.map((node) => toFlowNode(node, statuses, blocked)));
    // statuses/blocked are merged by the next effect; the structure changes only here.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [graphNodes, setNodes]);

  useEffect(() => {
    setNodes((current) => {
      let changed = false;
      const next = current.map((node) => {
        const data = merged(node.data, statuses, blocked);
        if (data.status === node.data.status && data.blocked_by === node.data.blocked_by) {
          return node;
        }
        changed = true;
        return { ...node, data };
      });
      return changed ? next : current; // no new array, no re-render, when nothing moved
    });
  }, [statuses, blocked, setNodes]);

  useEffect(() => {
    setEdges(graphEdges.map(toFlowEdge));
  }, [graphEdges, setEdges]);

  // A new graph (another job, or the whole pipeline) is fitted to the view afresh.
  const graphKey = useMemo(
    () => `${graphNodes.length}:${graphNodes.length ? graphNodes[0].job_id : ""}:${graphEdges.length}`,
    [graphNodes, graphEdges],
  );

  const large = graphNodes.length > LARGE;
  const start = useMemo(() => {
    if (!large) return undefined;
    const top = Math.min(...bands.map((band) => band.top));
    return { x: 10 + 30 * START_ZOOM, y: 10 - (top - 70) * START_ZOOM, zoom: START_ZOOM };
  }, [large, bands]);

  return (
    <div className="etl-dag-canvas" aria-label={graphLabel} role="region" data-large={large}>
      <ReactFlow
        key={graphKey}
        fitView={!large}
        defaultViewport={start}
        onlyRenderVisibleElements={large}
        nodes={nodes}
        edges={edges}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        colorMode={colorMode}
        nodesDraggable={false}
        nodesConnectable={false}
        nodesFocusable={false}
        edgesFocusable={false}
        elementsSelectable={false}
        disableKeyboardA11y={true}
        fitViewOptions={fitViewOptions}
        minZoom={0.05}
        maxZoom={2}
        proOptions={proOptions}
      >
        <Bands bands={bands} />
        <Background gap={24} />
        <Controls showInteractive={false} aria-label="Zoom and fit the graph" />
        <MiniMap
          pannable
          zoomable
          ariaLabel="Overview of the whole graph"
          nodeColor={(node) => MINIMAP[node.data?.status] || "#999999"}
          nodeStrokeColor={(node) => (node.data?.blocked_by ? "#D55E00" : "transparent")}
          nodeStrokeWidth={6}
        />
      </ReactFlow>
    </div>
  );
}
