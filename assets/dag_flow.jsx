// The dependency graph's frame: fetches the graph from GET /api/dag as soon as it mounts, and
// React Flow's chunk (dag_flow_impl.jsx, a dynamic import) at the same time, so neither waits
// for the websocket, the state's hydration or an on_load event. Both happen only where a graph
// is shown (the job page mounts this in its DAG tab only).
//
// Props: job and whole (the job page passes both; the /dag pages pass neither, and the job, if
// any, comes from the route's job_id), statuses and blocked (DagFeed's live maps), colorMode,
// and children (the legend, shown between the summary and the canvas).
import React, { useEffect, useMemo, useState } from "react";
import { useParams } from "react-router";
import "./dag_flow.css";


function graphUrl(job, whole) {
  return whole ? "/api/dag" : `/api/dag?job=${encodeURIComponent(job)}`;
}

// Rows arrive as arrays (see etl_orchestrator/web/dag_route.py); React Flow wants objects.
function decode(body) {
  const nodes = body.nodes.map(([job_id, level, status, blocked_by, enabled, x, y, upstreams]) => ({
    job_id, level, status, blocked_by, enabled, x, y, upstreams, focus: job_id === body.focus,
  }));
  const edges = body.edges.map(([source, target, dep_type]) => ({ source, target, dep_type }));
  const bands = body.bands.map(([level, x, top, bottom, count]) => ({ level, x, top, bottom, count }));
  return { problem: body.problem, nodes, edges, bands };
}

function plural(count, word) {
  return `${count} ${count === 1 ? word : word + "s"}`;
}

function useGraph(url) {
  const [graph, setGraph] = useState(null);
  const [failure, setFailure] = useState("");
  useEffect(() => {
    if (!url) return undefined;
    const abort = new AbortController();
    setFailure("");
    fetch(url, { credentials: "same-origin", signal: abort.signal })
      .then(async (response) => {
        const body = await response.json();
        if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
        setGraph(decode(body));
      })
      .catch((error) => {
        if (error.name !== "AbortError") setFailure(`The graph could not be read: ${error.message}`);
      });
    return () => abort.abort();
  }, [url]);
  return [graph, failure];
}

// Not React.lazy: a Suspense boundary that has shown its fallback holds the content back for up
// to 300 ms more once it is ready (React's reveal throttle), and lazy would start the download
// only when the graph is in. The import is shared: later mounts get the module at once.
let flowModule = null;
const flowImport = () => import("./dag_flow_impl.jsx");

function useFlowModule() {
  const [component, setComponent] = useState(() => flowModule && flowModule.default);
  const [failure, setFailure] = useState("");
  useEffect(() => {
    if (component) return undefined;
    let live = true;
    flowImport().then(
      (module) => {
        flowModule = module;
        if (live) setComponent(() => module.default);
      },
      (error) => {
        if (live) setFailure(`The graph's code could not be loaded: ${error.message}`);
      },
    );
    return () => {
      live = false;
    };
  }, [component]);
  return [component, failure];
}

export function DagFlow({ job, whole, statuses, blocked, colorMode, children }) {
  const params = useParams();
  const fromRoute = job === undefined;
  const jobId = fromRoute ? params.job_id || "" : job;
  const wholeGraph = fromRoute ? !jobId : Boolean(whole);
  // The job page knows its job only once its state has loaded: no request before that.
  const url = wholeGraph || jobId ? graphUrl(jobId, wholeGraph) : "";
  const [graph, graphFailure] = useGraph(url);
  const [DagFlowImpl, moduleFailure] = useFlowModule();
  const label = wholeGraph
    ? "Dependency graph of the whole pipeline"
    : `Dependency graph of ${jobId}`;
  const summary = useMemo(
    () =>
      graph &&
      `${plural(graph.nodes.length, "job")} in ${plural(graph.bands.length, "level")}, ` +
        `${graph.edges.length} dependencies`,
    [graph],
  );

  const problem = graphFailure || moduleFailure || (graph && graph.problem);
  if (problem) {
    return (
      <div className="etl-dag-problem">
        <span aria-hidden="true">⚠</span> {problem}
      </div>
    );
  }
  const loading = <p className="etl-dag-loading" role="status">Loading the graph…</p>;
  if (!graph || !DagFlowImpl) return loading;
  return (
    <div className="etl-dag-view">
      <p className="etl-dag-summary" id="dag-summary">{summary}</p>
      {children}
      <div className="etl-dag-frame">
        <DagFlowImpl
          nodes={graph.nodes}
          edges={graph.edges}
          bands={graph.bands}
          statuses={statuses}
          blocked={blocked}
          colorMode={colorMode}
          label={label}
        />
      </div>
    </div>
  );
}
