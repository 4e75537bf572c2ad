// The log list's window as the page holds it (assets/log_list.jsx), apart from React so that
// tests/ui/components/test_log_window_js.py can run it in Node.
//
// The server (ui/components/log_view.py) numbers every change of the window with one counter:
// a snapshot ({seq, first, rows}) is the whole window, sent when a log opens, is filtered,
// searched, paged or resynchronised; a batch ({seq, first, count, rows, reset}) is one push of
// live lines. A batch applies on top of the window with seq one below it: its rows are appended
// (or replace the window when `reset`), then the newest `count` rows are kept, the first of them
// at list index `first`, exactly as the server keeps its copy. A newer snapshot replaces the
// window; older ones (a reconnect re-sends the state) and stale batches are ignored.

const EMPTY = { seq: 0, first: 0, rows: [] };

export function fromSnapshot(snapshot) {
  const s = snapshot || EMPTY;
  return { seq: s.seq, first: s.first, rows: s.rows };
}

// The window after `snapshot` and `batch` (the latest of each), and whether a batch was missed:
// then the window stays as it was and the page must ask for a snapshot.
export function advance(window, snapshot, batch) {
  let w = window;
  if (snapshot && snapshot.seq > w.seq) w = fromSnapshot(snapshot);
  if (!batch || batch.seq <= w.seq) return { window: w, missed: false };
  if (batch.seq !== w.seq + 1 && !batch.reset) return { window: w, missed: true };
  const rows = batch.reset ? batch.rows : w.rows.concat(batch.rows);
  const drop = Math.max(rows.length - batch.count, 0);
  return { window: { seq: batch.seq, first: batch.first, rows: rows.slice(drop) }, missed: false };
}
