// The `local` volume driver's options, as Docker's local driver reads them: `type`, `device` and
// `o` describe a mount(2) made on the volume's data directory when a container first uses it
// (tmpfs, a bind of a host path with o=bind, nfs with o=addr=...); without them the volume is a
// plain directory. Names follow Docker's rule for local volume names.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { getSystemErrorMap } from "node:util";
import { CoveError, invalid, unsupported } from "../common/errors.js";
import { mountOne, parseOptions } from "../snapshots/index.js";

export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker's checks on a local volume name, with its wording ("create <name>: ..."). */
export function validateVolumeName(name: string): void {
  if (name.length === 1 && /^[a-zA-Z0-9]$/.test(name)) {
    throw invalid(`create ${name}: volume name is too short, names should be at least two alphanumeric characters`, { code: "volume.name-invalid" });
  }
  if (!VOLUME_NAME.test(name)) {
    throw invalid(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`, {
      code: "volume.name-invalid",
    });
  }
  // the name is a directory under the root: longer than NAME_MAX the kernel refuses it
  if (name.length > 255) throw invalid(`create ${name.slice(0, 40)}...: the volume name is ${name.length} characters long, more than the 255 a name can have`, { code: "volume.name-invalid", hint: "give a shorter name" });
}

const VALID_OPTIONS = ["type", "device", "o", "size"];
/** An option that needs others (Docker's mandatoryOpts). */
const REQUIRED_WITH: Record<string, string[]> = { device: ["type"], type: ["device"], o: ["device", "type"] };

/** Validates the local driver's options at create (Docker's validateOpts). */
export function validateLocalOptions(name: string, opts: Record<string, string>): void {
  for (const key of Object.keys(opts)) {
    if (!VALID_OPTIONS.includes(key)) throw invalid(`create ${name}: invalid option: "${key}"`, { code: "volume.option" });
  }
  if ("size" in opts) {
    throw unsupported(`create ${name}: quota size requested but no quota support`, {
      code: "volume.quota",
      hint: "size quotas need an xfs backing filesystem with project quotas; for a tmpfs volume give o=size=<bytes> instead",
    });
  }
  for (const [key, required] of Object.entries(REQUIRED_WITH)) {
    if (!(key in opts)) continue;
    for (const r of required) if (!(r in opts)) throw invalid(`create ${name}: missing required option: "${r}"`, { code: "volume.option" });
  }
}

/** Whether the volume is a mount (type/device given) rather than a plain directory. */
export function needsMount(opts: Record<string, string> | null): boolean {
  return !!opts && (!!opts.device || !!opts.type);
}

function goErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const cause = (e instanceof CoveError ? (e.cause as NodeJS.ErrnoException | undefined) : e) ?? e;
  if (typeof cause?.errno === "number") {
    const entry = getSystemErrorMap().get(cause.errno);
    if (entry) return entry[1];
  }
  return String(cause?.message ?? err);
}

/** nfs and cifs take a host name in addr=; the kernel needs an address (Docker resolves it too). */
async function resolveAddr(o: string): Promise<string> {
  const m = /(?:^|,)addr=([^,]+)/.exec(o);
  if (!m || isIP(m[1]!)) return o;
  const { address } = await lookup(m[1]!);
  return o.replace(`addr=${m[1]}`, `addr=${address}`);
}

/** Mounts the volume's device on its data directory, with Docker's error text on failure. */
export async function mountLocal(opts: Record<string, string>, target: string): Promise<void> {
  const type = opts.type ?? "";
  let o = opts.o ?? "";
  if (type === "nfs" || type === "nfs4" || type === "cifs") o = await resolveAddr(o);
  const options = o.split(",").filter(Boolean);
  const parsed = parseOptions(options);
  const bind = options.includes("bind") || options.includes("rbind");
  try {
    mountOne({ type: bind ? "bind" : type, source: opts.device ?? "", options }, target);
  } catch (err) {
    const flags = parsed.flags ? `, flags: 0x${parsed.flags.toString(16)}` : "";
    const data = parsed.data && !bind ? `, data: ${parsed.data}` : "";
    const text = goErrorText(err);
    const hint =
      type.startsWith("nfs") && /no such device/.test(text)
        ? "this kernel has no nfs client: load it (modprobe nfs) and install nfs-common, or use a bind or tmpfs volume"
        : bind && /no such file/.test(text)
          ? `create ${opts.device} on the host first, or recreate the volume with an existing device path`
          : undefined;
    throw new CoveError(/no such file/.test(text) ? "not-found" : "system", `error while mounting volume '${target}': failed to mount local volume: mount ${opts.device ?? ""}:${target}${flags}${data}: ${text}`, {
      code: "volume.mount",
      cause: err,
      ...(hint ? { hint } : {}),
    });
  }
}
