// Seconds left until an ISO 8601 UTC moment, re-rendered every second in the browser.
import { useEffect, useState } from "react";

export function Countdown({ until, prefix, done }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  if (!until) {
    return null;
  }
  const left = Math.ceil((new Date(until).getTime() - now) / 1000);
  return left > 0 ? `${prefix || ""}${left} s` : done || "";
}
