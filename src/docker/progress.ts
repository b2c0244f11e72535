// jsonmessage's progress string (JSONProgress.String): what dockerd 20.10 puts in a message's
// "progress" field (on a 200-column line) and what the docker CLI draws on a terminal from
// progressDetail: "[=====>      ]  1.2MB/3.4MB"; the bar only on lines wider than 110 columns.

import { humanSize } from "./units.js";

/** "" when there is nothing to show; a count alone when the total is unknown. */
export function progressString(detail: { current?: number; total?: number } | undefined, width = 200): string {
  const current = detail?.current ?? 0;
  const total = detail?.total ?? 0;
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) return humanSize(current).padStart(8);
  const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = width > 110 ? `[${"=".repeat(pct)}>${" ".repeat(Math.max(0, 50 - pct))}] ` : "";
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}
