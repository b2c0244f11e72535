// A container's logging configuration (HostConfig.LogConfig) as dockerd checks it: the drivers
// and options at create, the rotation values at start.

import { CoveError, invalid, unsupported } from "../common/errors.js";
import { atoi, fromHumanSize, parseBool } from "../docker/index.js";

export const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 5;

/** Logging drivers Docker has that cove does not implement: refused as unsupported, not unknown. */
export const DOCKER_ONLY_LOG_DRIVERS = ["syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"];
/** The options each driver accepts (moby's ValidateLogOpt), for Docker's create-time errors. */
export const LOG_OPTS: Record<string, string[]> = {
  "json-file": ["max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"],
  local: ["max-file", "max-size", "compress"],
};

/** Checks HostConfig.LogConfig at create as dockerd does: the driver, and the option names. */
export function checkLogConfig(type: string, config: Record<string, string>): void {
  if (DOCKER_ONLY_LOG_DRIVERS.includes(type)) {
    throw unsupported(`logging driver "${type}" is not supported: cove writes json-file logs (json-file, local or none)`, { code: "container.log-driver" });
  }
  if (type !== "none" && !LOG_OPTS[type]) throw invalid(`error looking up logging plugin ${type}: plugin "${type}" not found`, { code: "container.log-driver" });
  const unknown = Object.keys(config).find((k) => type !== "none" && !LOG_OPTS[type]!.includes(k));
  if (unknown !== undefined) {
    throw invalid(type === "json-file" ? `unknown log opt '${unknown}' for json-file log driver` : `unknown log opt '${unknown}' for log driver ${type}`, { code: "container.log-opt" });
  }
}

/**
 * The monitor's log rotation for a container, or undefined for the "none" driver. Values are
 * checked at start with the errors dockerd's drivers give when they initialize (so a bad value
 * leaves a created container, as with dockerd). Without max-size cove still bounds the log (the
 * local driver's 20 MB x 5 files) where Docker's json-file grows without limit. Rotated files are
 * not compressed.
 */
export function logSettings(type: string, config: Record<string, string>): { maxSize: number; maxFiles: number } | undefined {
  if (type === "none") return undefined;
  const failed = (message: string) => new CoveError("system", `failed to initialize logging driver: ${message}`, { code: "container.log-opt", field: "HostConfig.LogConfig.Config" });
  const local = type === "local";
  let maxSize = DEFAULT_LOG_MAX_SIZE;
  let maxFiles = config["max-size"] !== undefined && !local ? 1 : DEFAULT_LOG_MAX_FILES;
  let compress = local;
  const wrap = (prefix: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      throw failed(prefix + (err as Error).message);
    }
  };
  if (config["max-size"] !== undefined) {
    wrap(local ? `invalid value for max-size: ${config["max-size"]}: ` : "", () => (maxSize = fromHumanSize(config["max-size"]!)));
    if (maxSize <= 0) throw failed("max-size must be a positive number");
  }
  if (config["max-file"] !== undefined) wrap(local ? `invalid value for max-file: ${config["max-file"]}: ` : "", () => (maxFiles = atoi(config["max-file"]!)));
  if (config.compress !== undefined) wrap(local ? "error reading compress log option: " : "", () => (compress = parseBool(config.compress!)));
  if (local && compress && maxFiles <= 1) throw failed("compression cannot be enabled when max file count is 1");
  if (maxFiles < 1) throw failed("max-file cannot be less than 1");
  if (!local && compress && (maxFiles === 1 || config["max-size"] === undefined)) throw failed("compress cannot be true when max-file is less than 2 or max-size is not set");
  return { maxSize, maxFiles };
}
