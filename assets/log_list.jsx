// The run log's virtualised list (react-virtuoso), fed so that a live push carries only the new
// lines: `snapshot` and `batch` are applied as assets/log_window.js describes. React may merge
// two state updates into one render, so a batch can be missed: the list then asks for the whole
// window again with `onGap` (once per missed batch) rather than show a hole.
import React, { forwardRef, useEffect, useRef, useState } from "react";
import { Virtuoso } from "react-virtuoso";
import { advance, fromSnapshot } from "./log_window.js";

export const LogList = forwardRef(function LogList({ snapshot, batch, onGap, ...rest }, ref) {
  const held = useRef(null);
  const asked = useRef(0);
  if (held.current === null) held.current = fromSnapshot(snapshot);
  const [view, setView] = useState(held.current);
  useEffect(() => {
    const { window, missed } = advance(held.current, snapshot, batch);
    if (missed && asked.current !== batch.seq) {
      asked.current = batch.seq;
      if (onGap) onGap();
    }
    if (window !== held.current) {
      held.current = window;
      setView(window);
    }
  }, [snapshot, batch, onGap]);
  return <Virtuoso ref={ref} data={view.rows} firstItemIndex={view.first} {...rest} />;
});
