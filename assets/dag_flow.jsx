// The dependency graph, lazy-loaded: React Flow's chunk and styles are fetched only when a
// graph is actually shown (see dag_flow_impl.jsx for the graph itself).
import React, { lazy, Suspense } from "react";

const DagFlowImpl = lazy(() => import("./dag_flow_impl.jsx"));

export function DagFlow(props) {
  return (
    <Suspense fallback={<p className="etl-dag-loading" role="status">Loading the graph…</p>}>
      <DagFlowImpl {...props} />
    </Suspense>
  );
}
