// `kube play`'s planner: Kubernetes YAML (Pod, Deployment, ReplicaSet, DaemonSet, StatefulSet,
// Job, CronJob, Service, ConfigMap, Secret, PersistentVolumeClaim, Namespace, List) parsed,
// validated as a whole and turned into a plan of cove pods, containers and volumes, as podman's
// kube play maps them (pkg/domain/infra/abi/play.go, pkg/specgen/generate/kube): pod name =
// metadata.name, container name = <pod>-<container>, command → the entrypoint, args → the cmd,
// hostPort → a port published on the pod, persistentVolumeClaim → a named volume, liveness probe
// → a healthcheck whose failure restarts the container. A pure function of the text: the CLI
// (src/cli/kube.ts) executes the plan against the daemon. Every error names the object and the
// field path (`Deployment web: spec.template.spec.containers[0].image: Required value`), all of
// them are reported at once, and what cove does not act on is listed in the plan's warnings.
import { invalid } from "../common/errors.js";
import { parseQuantity } from "./quantity.js";
import { DEFAULT_KUBE_NETWORK, type Json, KUBE_LABEL, type Plan, type PlannedPod, type PlannedVolume, type PlannedWorkload, type PlayOptions } from "./plan-types.js";
import { Report, type DataSource, type KubeObject, checkSelector, dataOf, goMap, int, isObj, list, obj, objectsOf, selectorMatches, sha, str, stringMap } from "./fields.js";
import { type PodContext, type TemplateInput, nsName, planPod } from "./pod.js";

// ------------------------------------------------------------------ workloads

const WORKLOAD_KINDS = ["Pod", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob"];

/** The file's text as a plan: every object validated first, nothing half-planned. */
export function planKube(text: string, opts: PlayOptions = {}): Plan {
  const errors: string[] = [];
  const objects = objectsOf(text, errors);
  const warnings: string[] = [];
  const network = opts.network ?? DEFAULT_KUBE_NETWORK;
  const sources = new Map<string, DataSource>();
  const claims = new Map<string, PlannedVolume>();
  const namespaces = new Set<string>();
  for (const o of objects) {
    if (o.kind === "ConfigMap" || o.kind === "Secret") sources.set(`${o.kind}/${o.namespace}/${o.name}`, dataOf(o));
    if (o.kind === "Namespace") {
      o.report.unknown(o.raw, "", ["apiVersion", "kind", "metadata"], ["spec", "status"]);
      namespaces.add(o.name);
    }
    if (o.kind === "PersistentVolumeClaim") {
      const spec = obj(o.report, o.raw.spec, "spec") ?? {};
      o.report.unknown(spec, "spec", ["accessModes", "resources"], ["storageClassName", "volumeMode"]);
      const storage = isObj(spec.resources) && isObj(spec.resources.requests) ? spec.resources.requests.storage : undefined;
      if (storage !== undefined && parseQuantity(storage) === undefined) o.report.error("spec.resources.requests.storage", `Invalid value: ${JSON.stringify(storage)}: not a quantity`);
      claims.set(`${o.namespace}/${o.name}`, {
        name: nsName(o.namespace, o.name),
        scope: "pvc",
        labels: { ...o.labels, [KUBE_LABEL.namespace]: o.namespace, [KUBE_LABEL.volume]: "pvc", "io.cove.kube.claim": o.name, ...(typeof storage === "string" ? { "io.cove.kube.storage": storage } : {}) },
      });
    }
  }
  const ctx: PodContext = { sources, claims, implicitClaims: new Map(), network };
  const workloads: PlannedWorkload[] = [];
  const cronJobs: string[] = [];
  const podTemplates: { o: KubeObject; w: PlannedWorkload; labels: Record<string, string> }[] = [];
  for (const o of objects) {
    if (!WORKLOAD_KINDS.includes(o.kind)) continue;
    const r = o.report;
    const owner = `${o.kind}/${o.name}`;
    const prefix = nsName(o.namespace, o.name);
    if (o.kind === "Pod") {
      r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
      const spec = obj(r, o.raw.spec, "spec");
      if (!spec) {
        r.error("spec", "Required value");
        continue;
      }
      const t: TemplateInput = { r, at: "spec", spec, labels: o.labels, annotations: o.annotations, namespace: o.namespace, owner };
      const pod = planPod(t, ctx, prefix, 0, r);
      pod.hash = sha({ t: spec, l: o.labels, a: o.annotations, ns: o.namespace, n: network, d: depsOf(pod, sources, o.namespace, spec) });
      const w: PlannedWorkload = { kind: o.kind, name: o.name, namespace: o.namespace, owner, pods: [pod], update: "ordered" };
      workloads.push(w);
      podTemplates.push({ o, w, labels: o.labels });
      continue;
    }
    const spec = obj(r, o.raw.spec, "spec");
    if (!spec) {
      r.error("spec", "Required value");
      continue;
    }
    if (o.kind === "CronJob") {
      r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
      const schedule = str(r, spec.schedule, "spec.schedule", true);
      if (!obj(r, spec.jobTemplate, "spec.jobTemplate")) r.error("spec.jobTemplate", "Required value");
      if (schedule) r.warn("spec.schedule", `CronJob ${o.name} is recorded but not scheduled: cove runs no cron controller (run it as a Job, or from the host's cron with cove kube play)`);
      cronJobs.push(`${o.namespace}/${o.name}`);
      continue;
    }
    r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
    const SPEC_FIELDS: Record<string, string[]> = {
      Deployment: ["replicas", "selector", "template", "strategy"],
      ReplicaSet: ["replicas", "selector", "template"],
      DaemonSet: ["selector", "template", "updateStrategy"],
      StatefulSet: ["replicas", "selector", "template", "serviceName", "volumeClaimTemplates", "podManagementPolicy", "updateStrategy"],
      Job: ["template", "completions", "parallelism", "backoffLimit", "selector", "manualSelector"],
    };
    r.unknown(spec, "spec", SPEC_FIELDS[o.kind]!, ["revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds", "ttlSecondsAfterFinished", "activeDeadlineSeconds"]);
    const template = obj(r, spec.template, "spec.template");
    if (!template) {
      r.error("spec.template", "Required value");
      continue;
    }
    const tmeta = obj(r, template.metadata, "spec.template.metadata") ?? {};
    const tlabels = stringMap(r, tmeta.labels, "spec.template.metadata.labels", true);
    const tannotations = stringMap(r, tmeta.annotations, "spec.template.metadata.annotations", false);
    const tspec = obj(r, template.spec, "spec.template.spec");
    if (!tspec) {
      r.error("spec.template.spec", "Required value");
      continue;
    }
    // the selector: required (apps/v1), non-empty, and matching the template's labels
    if (o.kind !== "Job" || spec.selector !== undefined) {
      if (spec.selector === undefined) r.error("spec.selector", "Required value");
      else {
        const sel = checkSelector(r, spec.selector, "spec.selector");
        if (sel && !Object.keys(sel.matchLabels ?? {}).length && !sel.matchExpressions?.length) r.error("spec.selector", `Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for ${o.kind.toLowerCase()}`);
        else if (sel && !selectorMatches(sel, tlabels)) r.error("spec.template.metadata.labels", `Invalid value: ${goMap(tlabels)}: \`selector\` does not match template \`labels\``);
      }
    }
    const rp = tspec.restartPolicy ?? "Always";
    if (o.kind === "Job") {
      if (rp !== "OnFailure" && rp !== "Never") r.error("spec.template.spec.restartPolicy", `Required value: valid values: "OnFailure", "Never"`);
    } else if (rp !== "Always") r.error("spec.template.spec.restartPolicy", `Unsupported value: ${JSON.stringify(rp)}: supported values: "Always"`);
    let replicas = o.kind === "DaemonSet" ? 1 : (int(r, spec.replicas, "spec.replicas", 0) ?? 1);
    if (o.kind === "Job") replicas = 1;
    const claimTemplates = new Map<string, (replica: number) => PlannedVolume>();
    if (o.kind === "StatefulSet") {
      list(r, spec.volumeClaimTemplates, "spec.volumeClaimTemplates").forEach((c, i) => {
        const meta = isObj(c.metadata) ? c.metadata : {};
        const cname = str(r, meta.name, `spec.volumeClaimTemplates[${i}].metadata.name`, true);
        if (!cname) return;
        claimTemplates.set(cname, (rep) => ({
          name: nsName(o.namespace, `${cname}-${o.name}-${rep}`),
          scope: "pvc",
          labels: { [KUBE_LABEL.namespace]: o.namespace, [KUBE_LABEL.volume]: "pvc", [KUBE_LABEL.owner]: owner, "io.cove.kube.claim": `${cname}-${o.name}-${rep}` },
        }));
      });
    }
    const t: TemplateInput = { r, at: "spec.template.spec", spec: tspec, labels: tlabels, annotations: tannotations, namespace: o.namespace, owner, claimTemplates };
    const templateHash = sha({ t: tspec, l: tlabels, a: tannotations, ns: o.namespace, n: network, c: spec.volumeClaimTemplates ?? null, d: depsOf(undefined, sources, o.namespace, tspec) }).slice(0, 10);
    const w: PlannedWorkload = { kind: o.kind, name: o.name, namespace: o.namespace, owner, pods: [], update: o.kind === "StatefulSet" ? "ordered" : o.kind === "Job" ? "job" : "rolling" };
    for (let i = 0; i < replicas; i++) {
      // StatefulSet: stable names; the others: the template's hash in the name, as the ReplicaSets of a Deployment
      const podName = o.kind === "StatefulSet" ? `${prefix}-${i}` : o.kind === "Job" ? `${prefix}-${templateHash.slice(0, 5)}` : `${prefix}-${templateHash}-${i}`;
      // the template's errors are reported once, for the first replica
      const pod = planPod(t, ctx, podName, i, i === 0 ? r : new Report(r.what));
      pod.hash = templateHash;
      w.pods.push(pod);
    }
    if (replicas === 0) planPod(t, ctx, `${prefix}-check`, 0, r); // validated even when scaled to zero
    if (o.kind === "Job") {
      const completions = int(r, spec.completions, "spec.completions", 1) ?? 1;
      const parallelism = int(r, spec.parallelism, "spec.parallelism", 1) ?? 1;
      w.job = { completions, parallelism: Math.min(parallelism, completions), backoffLimit: int(r, spec.backoffLimit, "spec.backoffLimit", 0) ?? 6, restartPolicy: rp === "OnFailure" ? "OnFailure" : "Never" };
    }
    if (o.kind === "DaemonSet" && spec.replicas !== undefined) r.warn("spec.replicas", "a DaemonSet runs one pod on this node: ignored");
    workloads.push(w);
    podTemplates.push({ o, w, labels: tlabels });
  }

  // services: a name on the play's network for the pods they select, published ports for NodePort and LoadBalancer
  for (const o of objects) {
    if (o.kind !== "Service") continue;
    const r = o.report;
    r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
    const spec = obj(r, o.raw.spec, "spec") ?? {};
    r.unknown(spec, "spec", ["type", "selector", "ports", "clusterIP"], ["sessionAffinity", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "externalTrafficPolicy"]);
    const type = str(r, spec.type, "spec.type") ?? "ClusterIP";
    if (!["ClusterIP", "NodePort", "LoadBalancer"].includes(type)) r.error("spec.type", `Unsupported value: ${JSON.stringify(type)}: supported values: "ClusterIP", "NodePort", "LoadBalancer"`);
    const selector = stringMap(r, spec.selector, "spec.selector", true);
    const ports = list(r, spec.ports, "spec.ports");
    if (spec.clusterIP !== undefined && spec.clusterIP !== "None" && spec.clusterIP !== "") r.warn("spec.clusterIP", "cove gives a service no virtual address: its name resolves to the addresses of its pods: ignored");
    const selected = Object.keys(selector).length ? podTemplates.filter((p) => p.o.namespace === o.namespace && selectorMatches({ matchLabels: selector }, p.labels)) : [];
    if (!Object.keys(selector).length) r.warn("spec.selector", "a service without a selector selects no pods of the play");
    const aliases = [o.name, `${o.name}.${o.namespace}`, `${o.name}.${o.namespace}.svc`, `${o.name}.${o.namespace}.svc.cluster.local`];
    for (const p of selected)
      for (const pod of p.w.pods) {
        const nets = pod.spec.Networks?.[network];
        if (nets) nets.aliases = [...new Set([...(nets.aliases ?? []), ...aliases])];
      }
    ports.forEach((p, i) => {
      const pat = `spec.ports[${i}]`;
      r.unknown(p, pat, ["port", "targetPort", "nodePort", "protocol", "name"], ["appProtocol"]);
      const port = int(r, p.port, `${pat}.port`, 1, 65535);
      if (p.port === undefined) r.error(`${pat}.port`, "Required value");
      const proto = str(r, p.protocol, `${pat}.protocol`) ?? "TCP";
      let target: number | undefined;
      if (typeof p.targetPort === "string" && !/^\d+$/.test(p.targetPort)) {
        for (const s of selected)
          for (const c of list(r, (s.w.kind === "Pod" ? (s.o.raw.spec as Json) : ((s.o.raw.spec as Json).template as Json).spec as Json)?.containers, "containers"))
            for (const cp of list(r, c.ports, "ports")) if (cp.name === p.targetPort) target = Number(cp.containerPort);
        if (target === undefined && selected.length) r.error(`${pat}.targetPort`, `Invalid value: ${JSON.stringify(p.targetPort)}: no container port of this name in the selected pods`);
      } else target = p.targetPort === undefined ? port : int(r, typeof p.targetPort === "string" ? Number(p.targetPort) : p.targetPort, `${pat}.targetPort`, 1, 65535);
      if (port !== undefined && target !== undefined && port !== target && type === "ClusterIP") r.warn(`${pat}.port`, `cove has no service proxy: the service's pods are reached at their port ${target}, not ${port}`);
      let hostPort: number | undefined;
      if (type === "NodePort") {
        hostPort = int(r, p.nodePort, `${pat}.nodePort`, 1, 65535);
        if (p.nodePort === undefined) r.error(`${pat}.nodePort`, "Required value: cove allocates no node ports: give the port to publish on the host");
      } else if (type === "LoadBalancer") hostPort = port;
      if (hostPort === undefined || target === undefined) return;
      const pods = selected.flatMap((s) => s.w.pods);
      const first = pods.find((pod) => !pod.spec.netns);
      if (!first) {
        if (selected.length) r.warn(pat, "the selected pods are on the host's network: nothing to publish");
        return;
      }
      if (pods.length > 1) r.warn(pat, `published by ${first.name} only: one host port reaches one pod (cove balances no load across ${pods.length} pods)`);
      (first.spec.portmappings ??= []).push({ container_port: target, host_port: hostPort, protocol: proto.toLowerCase() });
      first.fixedPorts = true;
      // the port is part of the pod's configuration: a changed service replaces it
      first.hash = sha([first.hash, hostPort, target, proto]).slice(0, first.hash.length || 64);
    });
  }
  // every pod's hash covers its network names (a changed service renames or replaces them)
  for (const w of workloads)
    for (const p of w.pods) {
      const aliases = p.spec.Networks?.[network]?.aliases ?? [];
      if (aliases.length) p.hash = sha([p.hash, aliases]);
      p.spec.labels = { ...p.spec.labels, [KUBE_LABEL.hash]: p.hash };
      if (!p.spec.netns) p.spec.Networks = { [network]: { aliases: [p.name.length <= 63 ? p.name : p.spec.hostname!, ...aliases] } };
    }
  for (const o of objects) {
    errors.push(...o.report.errors);
    warnings.push(...o.report.warnings);
  }
  if (errors.length) {
    const warned = warnings.length ? `\nwarnings:\n  ${warnings.join("\n  ")}` : "";
    throw invalid(`the file is not valid for cove kube play (nothing was created):\n  ${errors.join("\n  ")}${warned}`, { code: "kube.invalid" });
  }
  if (!workloads.length && !claims.size && !cronJobs.length && !objects.length) throw invalid("the file holds no Kubernetes objects", { code: "kube.empty" });
  const volumes = [...claims.values(), ...ctx.implicitClaims.values()];
  return { network, workloads, volumes, cronJobs, namespaces: [...namespaces], warnings };
}

/** The data a pod template takes from the file's ConfigMaps and Secrets: part of its hash, so a changed value replaces the pods. */
function depsOf(_pod: PlannedPod | undefined, sources: Map<string, DataSource>, namespace: string, spec: Json): Record<string, string> {
  const text = JSON.stringify(spec);
  const out: Record<string, string> = {};
  for (const [key, src] of sources) {
    const [, ns, name] = key.split("/") as [string, string, string];
    if (ns !== namespace || !text.includes(JSON.stringify(name))) continue;
    out[key] = sha([...src.data].map(([k, v]) => [k, v.toString("base64")]));
  }
  return out;
}
