// Kubernetes quantities (resource.Quantity): "500m", "0.5", "2" CPUs; "128Mi", "1G", "1e6",
// "129M" bytes. Binary suffixes (Ki..Ei), decimal ones (n, u, m, k, M, G, T, P, E) and exponents.

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** A quantity's value, or undefined when the text is not a quantity (Kubernetes' parser would refuse it). */
export function parseQuantity(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = QUANTITY.exec(v.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX[m[3] ?? ""]!;
}

/** CPUs as millicores (Kubernetes rounds up to the millicore). */
export function milliCpu(v: unknown): number | undefined {
  const q = parseQuantity(v);
  return q === undefined ? undefined : Math.ceil(q * 1000 - 1e-9);
}

/** The kubelet's MilliCPUToShares: cpu.shares from a CPU request (at least 2). */
export function milliCpuToShares(milli: number): number {
  return Math.max(2, Math.floor((milli * 1024) / 1000));
}
