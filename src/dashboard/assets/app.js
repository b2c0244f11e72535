// cove's dashboard page: tables of containers, images, volumes and networks kept current from the
// daemon's /events stream; for a selected container, live CPU / memory / network plots from its
// stats stream (computed as `docker stats` computes them), its logs followed, and a shell in an
// xterm.js terminal. Everything goes through /api/*, which the dashboard forwards to the daemon's
// Engine API; nothing is fetched from anywhere else.

const HISTORY = 60; // points per plot

/** What the page shows and when, readable by tests (window.coveDashboard). */
const state = {
  /** container ID -> ms when its first event arrived in the page */
  firstEvent: {},
  /** container ID -> ms when its row was first drawn */
  firstRow: {},
  eventsSeen: 0,
  selected: undefined,
  plots: {},
  errors: [],
};
window.coveDashboard = state;

const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

function notice(text) {
  const n = $("#notice");
  n.textContent = text;
  n.hidden = !text;
  if (text) state.errors.push(text);
}

/** A request to the Engine API through the dashboard. */
function api(path, opts = {}) {
  return fetch("/api" + path, { ...opts, headers: { "X-Cove-Dashboard": "1", ...(opts.body ? { "Content-Type": "application/json" } : {}), ...(opts.headers ?? {}) } });
}

async function failure(res) {
  const text = await res.text();
  try {
    return JSON.parse(text).message ?? text;
  } catch {
    return text || `${res.status} ${res.statusText}`;
  }
}

async function getJSON(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(await failure(res));
  return res.json();
}

/** Reads a streaming body chunk by chunk until it ends or `signal` aborts. */
async function readStream(res, onChunk) {
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}

/** Splits a stream of JSON lines. */
function jsonLines(onValue) {
  const decoder = new TextDecoder();
  let buf = "";
  return (bytes) => {
    buf += decoder.decode(bytes, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) onValue(JSON.parse(line));
    }
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isAbort = (err) => err?.name === "AbortError";

// ---- formatting, as the docker CLI prints these values

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function ago(seconds) {
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return `${Math.floor(s)} seconds ago`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

function ports(list) {
  return (list ?? [])
    .map((p) => (p.PublicPort ? `${p.IP ? `${p.IP}:` : ""}${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`))
    .join(", ");
}

const shortId = (id) => id.replace(/^sha256:/, "").slice(0, 12);
const containerName = (c) => (c.Names?.[0] ?? "").replace(/^\//, "") || shortId(c.Id);

// ---- the tables

function fill(section, rows, columns, empty) {
  const body = $(`#${section} tbody`);
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colSpan: columns }, empty))]));
}

async function containerAction(c, action) {
  const id = c.Id;
  let res;
  if (action === "remove") {
    if (!confirm(`Remove container ${containerName(c)}${c.State === "running" ? " (it is running: it is killed first)" : ""}?`)) return;
    res = await api(`/containers/${id}?force=1`, { method: "DELETE" });
  } else res = await api(`/containers/${id}/${action}`, { method: "POST" });
  if (!res.ok && res.status !== 304) notice(`${action} ${containerName(c)}: ${await failure(res)}`);
  else notice("");
}

function containerRow(c) {
  const running = c.State === "running";
  const button = (action, label, enabled) =>
    el("button", { type: "button", "data-action": action, disabled: !enabled, on: { click: (e) => (e.stopPropagation(), void containerAction(c, action)) } }, label);
  const tr = el(
    "tr",
    { "data-id": c.Id, "data-name": containerName(c), "data-state": c.State, class: state.selected === c.Id ? "selected" : "" },
    el("td", {}, el("a", { class: "name", on: { click: () => void select(c.Id) } }, containerName(c))),
    el("td", {}, c.Image),
    el("td", { class: `state-${c.State}` }, c.Status),
    el("td", {}, ports(c.Ports)),
    el("td", {}, button("start", "start", !running), button("stop", "stop", running), button("restart", "restart", true), button("remove", "remove", true)),
  );
  state.firstRow[c.Id] ??= Date.now();
  return tr;
}

const refreshers = {
  async containers() {
    const list = await getJSON("/containers/json?all=1");
    list.sort((a, b) => b.Created - a.Created);
    fill("containers", list.map(containerRow), 5, "no containers");
    if (state.selected && !list.some((c) => c.Id === state.selected)) unselect();
  },
  async images() {
    const list = await getJSON("/images/json");
    list.sort((a, b) => b.Created - a.Created);
    const rows = list.map((i) =>
      el("tr", { "data-id": i.Id }, el("td", {}, (i.RepoTags ?? []).filter((t) => t !== "<none>:<none>").join(", ") || "<none>"), el("td", {}, shortId(i.Id)), el("td", {}, bytes(i.Size ?? 0)), el("td", {}, ago(i.Created))),
    );
    fill("images", rows, 4, "no images");
  },
  async volumes() {
    const { Volumes } = await getJSON("/volumes");
    const rows = (Volumes ?? []).map((v) => el("tr", { "data-name": v.Name }, el("td", {}, v.Name), el("td", {}, v.Driver), el("td", {}, v.Mountpoint)));
    fill("volumes", rows, 3, "no volumes");
  },
  async networks() {
    const res = await api("/networks");
    // a daemon started without networking (cove daemon --no-network) has no /networks routes
    if (res.status === 404 || res.status === 501) return fill("networks", [], 4, `this daemon runs without networking (${await failure(res)})`);
    if (!res.ok) throw new Error(await failure(res));
    const list = await res.json();
    const rows = list.map((n) => el("tr", { "data-name": n.Name }, el("td", {}, n.Name), el("td", {}, n.Driver), el("td", {}, n.Scope), el("td", {}, (n.IPAM?.Config ?? []).map((c) => c.Subnet).join(", "))));
    fill("networks", rows, 4, "no networks");
  },
};

/** One refresh of a table at a time; events arriving meanwhile ask for one more after it. */
const refreshing = {};
function refresh(kind) {
  const r = (refreshing[kind] ??= { running: false, again: false });
  if (r.running) {
    r.again = true;
    return;
  }
  r.running = true;
  refreshers[kind]()
    .catch((err) => notice(`${kind}: ${err.message}`))
    .finally(() => {
      r.running = false;
      if (r.again) {
        r.again = false;
        refresh(kind);
      }
    });
}
const refreshAll = () => Object.keys(refreshers).forEach(refresh);

// ---- events: every change the daemon reports refreshes the table it concerns

const TABLE_OF = { container: "containers", image: "images", volume: "volumes", network: "networks" };

function onEvent(e) {
  state.eventsSeen++;
  const id = e.Actor?.ID ?? e.id;
  if (e.Type === "container" && id) state.firstEvent[id] ??= Date.now();
  const kind = TABLE_OF[e.Type];
  if (kind) refresh(kind);
  // a container's image, volume and network use shows in their tables too
  if (e.Type === "container" && (e.Action === "destroy" || e.Action === "create")) refresh("images");
  // the selected container started again: its stats, logs and terminal follow the new run
  if (e.Type === "container" && id === state.selected && e.Action === "start") void select(id);
}

async function followEvents() {
  const live = $("#live");
  for (;;) {
    try {
      const res = await api("/events");
      if (!res.ok) throw new Error(await failure(res));
      live.textContent = "live";
      live.className = "live on";
      // what changed while the stream was being opened
      refreshAll();
      await readStream(res, jsonLines(onEvent));
      throw new Error("the daemon ended the event stream");
    } catch (err) {
      live.textContent = `reconnecting (${err.message})`;
      live.className = "live off";
    }
    await sleep(1000);
  }
}

// ---- plots: a hand-drawn line chart on a canvas

function plot(name, series) {
  const canvas = $(`#plot-${name}`);
  const p = (state.plots[name] = { series, drawn: [] });
  p.draw = (format) => {
    const ctx = canvas.getContext("2d");
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const max = Math.max(1e-9, ...series.flatMap((s) => s.values));
    ctx.fillStyle = "#687385";
    ctx.font = "10px sans-serif";
    ctx.fillText(format(max), 4, 11);
    ctx.strokeStyle = "#dde2ea";
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5);
    ctx.lineTo(w, h - 0.5);
    ctx.stroke();
    p.drawn = series.map((s) => {
      const pts = s.values.map((v, i) => [Math.round((i / (HISTORY - 1)) * (w - 2)) + 1, Math.round(h - 2 - (v / max) * (h - 16))]);
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.stroke();
      return pts.map(([, y]) => y);
    });
  };
  return p;
}

const push = (values, v) => {
  values.push(v);
  if (values.length > HISTORY) values.shift();
};

/** CPU %, memory without the page cache, and the network's byte counts, as `docker stats` computes them. */
function sample(s) {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpu = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  const usage = s.memory_stats?.usage ?? 0;
  const st = s.memory_stats?.stats ?? {};
  // cgroup v1 reports total_inactive_file, v2 inactive_file: the page cache the kernel may drop
  const cache = st.total_inactive_file !== undefined && st.total_inactive_file < usage ? st.total_inactive_file : st.inactive_file !== undefined && st.inactive_file < usage ? st.inactive_file : 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  return { cpu, memory: usage - cache, limit: s.memory_stats?.limit ?? 0, rx, tx, read: Date.parse(s.read) };
}

// ---- the selected container: stats, logs, terminal

let current; // { id, abort: AbortController, term?, ws? }

function unselect() {
  if (!current) return;
  current.abort.abort();
  current.ws?.close();
  current.term?.dispose();
  current = undefined;
  state.selected = undefined;
  $("#detail").hidden = true;
  for (const tr of document.querySelectorAll("#containers tr.selected")) tr.classList.remove("selected");
}

async function select(id) {
  unselect();
  const abort = new AbortController();
  current = { id, abort };
  state.selected = id;
  for (const tr of document.querySelectorAll("#containers tbody tr")) tr.classList.toggle("selected", tr.dataset.id === id);
  let info;
  try {
    info = await getJSON(`/containers/${id}/json`);
  } catch (err) {
    notice(`container ${id}: ${err.message}`);
    return;
  }
  if (current?.id !== id) return;
  $("#detail").hidden = false;
  $("#detail-name").textContent = info.Name.replace(/^\//, "");
  $("#terminal").replaceChildren();
  $("#terminal-open").disabled = !info.State.Running;
  $("#terminal-open").onclick = () => void openTerminal(id);
  void followStats(id, abort.signal);
  void followLogs(id, !!info.Config.Tty, abort.signal);
}

async function followStats(id, signal) {
  const cpu = { values: [], color: "#16a34a" };
  const mem = { values: [], color: "#7c3aed" };
  const rx = { values: [], color: "#2563eb" };
  const tx = { values: [], color: "#d97706" };
  const plots = { cpu: plot("cpu", [cpu]), memory: plot("memory", [mem]), net: plot("net", [rx, tx]) };
  let last;
  const percent = (v) => `${v.toFixed(1)} %`;
  const rate = (v) => `${bytes(v)}/s`;
  const onStats = (s) => {
    const now = sample(s);
    push(cpu.values, now.cpu);
    push(mem.values, now.memory);
    const seconds = last && now.read > last.read ? (now.read - last.read) / 1000 : 1;
    push(rx.values, last ? Math.max(0, now.rx - last.rx) / seconds : 0);
    push(tx.values, last ? Math.max(0, now.tx - last.tx) / seconds : 0);
    last = now;
    $("#cpu-now").textContent = percent(now.cpu);
    $("#memory-now").textContent = `${bytes(now.memory)}${now.limit ? ` / ${bytes(now.limit)}` : ""}`;
    $("#net-now").textContent = `${bytes(now.rx)} / ${bytes(now.tx)}`;
    plots.cpu.draw(percent);
    plots.memory.draw(bytes);
    plots.net.draw(rate);
  };
  try {
    const res = await api(`/containers/${id}/stats?stream=1`, { signal });
    if (!res.ok) throw new Error(await failure(res));
    await readStream(res, jsonLines(onStats));
  } catch (err) {
    if (!isAbort(err)) notice(`stats of ${shortId(id)}: ${err.message}`);
  }
}

/** Appends log text, keeping the last 2000 lines and the view at the bottom when it was there. */
function appendLog(text, stream) {
  const pre = $("#logs");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.append(stream === 2 ? el("span", { class: "stderr" }, text) : document.createTextNode(text));
  while (pre.childNodes.length > 2000) pre.firstChild.remove();
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function followLogs(id, tty, signal) {
  $("#logs").replaceChildren();
  const decoders = { 1: new TextDecoder(), 2: new TextDecoder() };
  let buf = new Uint8Array(0);
  // without a TTY the stream is multiplexed: an 8-byte header (stream, 0, 0, 0, big-endian size) per frame
  const onChunk = (chunk) => {
    if (tty) return appendLog(decoders[1].decode(chunk, { stream: true }), 1);
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    while (buf.length >= 8) {
      const size = new DataView(buf.buffer, buf.byteOffset).getUint32(4);
      if (buf.length < 8 + size) break;
      const stream = buf[0] === 2 ? 2 : 1;
      appendLog(decoders[stream].decode(buf.subarray(8, 8 + size), { stream: true }), stream);
      buf = buf.subarray(8 + size);
    }
  };
  try {
    const res = await api(`/containers/${id}/logs?follow=1&stdout=1&stderr=1&tail=500`, { signal });
    if (!res.ok) throw new Error(await failure(res));
    await readStream(res, onChunk);
    appendLog("\n(the log ends here: the container stopped)\n", 1);
  } catch (err) {
    if (!isAbort(err)) notice(`logs of ${shortId(id)}: ${err.message}`);
  }
}

async function openTerminal(id) {
  const box = $("#terminal");
  current?.ws?.close();
  current?.term?.dispose();
  box.replaceChildren();
  let exec;
  try {
    const res = await api(`/containers/${id}/exec`, { method: "POST", body: JSON.stringify({ AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ["sh"] }) });
    if (!res.ok) throw new Error(await failure(res));
    exec = (await res.json()).Id;
  } catch (err) {
    notice(`shell in ${shortId(id)}: ${err.message}`);
    return;
  }
  if (current?.id !== id) return;
  const term = new Terminal({ fontSize: 13, cursorBlink: true });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/exec/${exec}/ws`);
  ws.binaryType = "arraybuffer";
  current.term = term;
  current.ws = ws;
  state.terminal = { exec, text: () => Array.from({ length: term.buffer.active.length }, (_, i) => term.buffer.active.getLine(i)?.translateToString(true) ?? "").join("\n"), send: (s) => ws.send(s) };
  // the exec runs once its first output (the prompt) arrives: resized from then on
  let running = false;
  const resize = () => running && void api(`/exec/${exec}/resize?h=${term.rows}&w=${term.cols}`, { method: "POST" }).catch(() => undefined);
  ws.onopen = () => term.focus();
  ws.onmessage = (e) => {
    term.write(new Uint8Array(e.data));
    if (!running) {
      running = true;
      resize();
    }
  };
  ws.onclose = () => term.write("\r\n[the shell ended]\r\n");
  term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(d));
  term.onResize(resize);
  window.addEventListener("resize", () => fit.fit());
}

// ---- start

async function start() {
  try {
    const v = await getJSON("/version");
    $("#engine").textContent = `${v.Platform?.Name ?? "engine"} ${v.Version} · API ${v.ApiVersion} · ${v.Os}/${v.Arch}`;
  } catch (err) {
    notice(`the daemon does not answer: ${err.message}`);
  }
  void followEvents();
  // "Up 5 minutes" changes with time, and no event says so
  setInterval(() => refresh("containers"), 15_000);
}

void start();
