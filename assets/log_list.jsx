// The run log's virtualised list (react-virtuoso), fed so that a live push carries only the new
// lines: `snapshot` and `batch` are applied as assets/log_window.js describes. React may merge
// two state updates into one render, so a batch can be missed: the list then asks for the whole
// window again with `onGap` (once per missed batch) rather than show a hole.
import React, { forwardRef, useCallback, useEffect, useRef, useState } from "react";
import { Virtuoso } from "react-virtuoso";
import { advance, fromSnapshot } from "./log_window.js";

export const LogList = forwardRef(function LogList(
  { snapshot, batch, onGap, followOutput, ...rest },
  ref,
) {
  const list = useRef(null);
  const held = useRef(null);
  const asked = useRef(0);
  if (held.current === null) held.current = fromSnapshot(snapshot);
  const [view, setView] = useState({ window: held.current, pushed: false });
  const setRefs = useCallback(
    (handle) => {
      list.current = handle;
      if (typeof ref === "function") ref(handle);
      else if (ref) ref.current = handle;
    },
    [ref],
  );
  useEffect(() => {
    const { window, missed } = advance(held.current, snapshot, batch);
    if (missed && asked.current !== batch.seq) {
      asked.current = batch.seq;
      if (onGap) onGap();
    }
    if (window !== held.current) {
      held.current = window;
      setView({ window, pushed: batch != null && window.seq === batch.seq });
    }
  }, [snapshot, batch, onGap]);
  useEffect(() => {
    // Virtuoso follows the output only when the item count grows; once the window is full a push
    // drops as many old lines as it adds, so the newest line is scrolled to here.
    const follow = typeof followOutput === "function" ? followOutput(true) : followOutput;
    if (view.pushed && follow && list.current) {
      list.current.scrollToIndex({ index: "LAST", align: "end", behavior: "auto" });
    }
  }, [view]);
  return (
    <Virtuoso
      ref={setRefs}
      data={view.window.rows}
      firstItemIndex={view.window.first}
      followOutput={followOutput}
      {...rest}
    />
  );
});
