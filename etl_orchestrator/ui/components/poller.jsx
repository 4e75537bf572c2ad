// Calls onTick every intervalMs milliseconds while mounted; an interval of 0 stops it.
import { useEffect, useRef } from "react";

export function Poller({ intervalMs, onTick }) {
  const tick = useRef(onTick);
  useEffect(() => {
    tick.current = onTick;
  }, [onTick]);
  useEffect(() => {
    if (!intervalMs || intervalMs <= 0) {
      return undefined;
    }
    const id = setInterval(() => tick.current && tick.current(), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return null;
}
