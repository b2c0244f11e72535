// The web dashboard: a second listener of the daemon (off unless `cove daemon --dashboard ADDR`
// or daemon.json's "dashboard" turns it on) that serves one page (assets/: index.html, app.js,
// style.css, and xterm.js with its fit addon from the package's dependencies) and forwards the
// page's /api/* requests to the daemon's own Engine API handler, the one behind the unix socket,
// so that the dashboard implements nothing of the engine: it lists, follows /events, streams
// stats and logs, starts, stops and removes through the routes the docker CLI uses.
//
// Who may use it: the dashboard can stop containers and open a shell in them, so reaching it is
// as good as root. It listens on a loopback address only, unless TLS client certificates guard it
// (as the API's TCP listener); and every request needs the dashboard's token, a random secret
// made at each start that `cove dashboard` prints in the address to open (it asks the daemon's
// socket, so only those who may use the socket learn it). Opening that address trades the token
// for an HttpOnly, SameSite=Strict cookie. So another local user, a web page in the same browser
// (cross-site requests carry no SameSite=Strict cookie, and the API needs a header a cross-site
// form cannot set), and a DNS name rebound to 127.0.0.1 (the Host header must name the loopback
// listener) reach nothing. Only the routes the page uses are forwarded (FORWARDED), so a stolen
// session could not create a privileged container either.
//
// The exec terminal: the Engine API starts an exec's stream by hijacking the HTTP connection
// (Upgrade: tcp), which a browser cannot do, so /api/exec/{id}/ws accepts a WebSocket from the
// page and starts the exec through the daemon's unix socket exactly as the docker CLI does,
// carrying the bytes both ways.

import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { CoveError, fromErrno, invalid, notFound } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { acceptWebSocket, isLoopbackHost, isWebSocketRequest, sendJSON, type DashboardSettings, type Router } from "../daemon/index.js";

/** What the dashboard needs of a running daemon: its API handler and its socket. */
export interface DashboardDaemon {
  router: Router;
  socket: string;
}

export interface Dashboard {
  /** The address to open, with the token: http://127.0.0.1:9123/?token=... */
  url: string;
  /** The address without the token (for logs). */
  address: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** The Engine API routes the page uses, the only ones forwarded (paths without the /api prefix). */
export const FORWARDED: ReadonlyArray<readonly [string, RegExp]> = [
  ["GET", /^\/(?:_ping|version|info|events|containers\/json|images\/json|volumes|networks)$/],
  ["GET", /^\/containers\/[^/]+\/(?:json|stats|logs)$/],
  ["GET", /^\/exec\/[^/]+\/json$/],
  ["POST", /^\/containers\/[^/]+\/(?:start|stop|restart|kill|exec)$/],
  ["POST", /^\/exec\/[^/]+\/resize$/],
  ["DELETE", /^\/containers\/[^/]+$/],
];
/** WebSocket routes: the container's attach and the dashboard's exec bridge. */
const ATTACH_WS = /^\/containers\/[^/]+\/attach\/ws$/;
const EXEC_WS = /^\/exec\/([^/]+)\/ws$/;

/** The dashboard each daemon's API reports (one GET /cove/dashboard route per router, whatever starts and stops). */
const reported = new WeakMap<Router, { current?: { URL: string; Address: string; TLS: boolean } }>();

function reportOn(router: Router): { current?: { URL: string; Address: string; TLS: boolean } } {
  let slot = reported.get(router);
  if (!slot) {
    const s: { current?: { URL: string; Address: string; TLS: boolean } } = {};
    router.get("/cove/dashboard", (c) => {
      if (!s.current) throw notFound("the dashboard is off", { code: "dashboard.off" });
      sendJSON(c.res, 200, s.current);
    });
    reported.set(router, (slot = s));
  }
  return slot;
}

/** The header the page sends with every /api request: a cross-site form or image cannot set it. */
export const API_HEADER = "x-cove-dashboard";

interface Asset {
  type: string;
  body: Buffer;
}

/** The package's root (the folder with package.json above this module). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "src", "dashboard", "assets"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new CoveError("unsupported", "the dashboard's page (src/dashboard/assets in the cove package) is missing", { code: "dashboard.assets", hint: "reinstall the cove package" });
    dir = up;
  }
}

/** Reads the page and the terminal's scripts once, at start: a missing file fails the start, not a request. */
async function loadAssets(): Promise<Map<string, Asset>> {
  const own = path.join(packageRoot(), "src", "dashboard", "assets");
  const require = createRequire(import.meta.url);
  const xterm = path.dirname(path.dirname(require.resolve("@xterm/xterm")));
  const fit = require.resolve("@xterm/addon-fit");
  const files: Record<string, [string, string]> = {
    "/": [path.join(own, "index.html"), "text/html; charset=utf-8"],
    "/assets/app.js": [path.join(own, "app.js"), "text/javascript; charset=utf-8"],
    "/assets/style.css": [path.join(own, "style.css"), "text/css; charset=utf-8"],
    "/assets/xterm.js": [path.join(xterm, "lib", "xterm.js"), "text/javascript; charset=utf-8"],
    "/assets/xterm.css": [path.join(xterm, "css", "xterm.css"), "text/css; charset=utf-8"],
    "/assets/addon-fit.js": [fit, "text/javascript; charset=utf-8"],
  };
  const out = new Map<string, Asset>();
  for (const [route, [file, type]] of Object.entries(files)) {
    try {
      out.set(route, { type, body: await readFile(file) });
    } catch (err) {
      throw fromErrno(err, `reading the dashboard's ${path.basename(file)} (${file})`);
    }
  }
  return out;
}

/** Headers of every page and asset: no framing by other sites, scripts and connections to this origin only. */
const PAGE_HEADERS = {
  "Content-Security-Policy": "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

const LOCKED_PAGE = `<!doctype html><meta charset="utf-8"><title>cove dashboard</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/style.css">
<main class="locked"><h1>cove dashboard</h1><p>This address needs the dashboard's token. Run <code>cove dashboard</code> (as a user who may use the daemon's socket) and open the address it prints.</p></main>
`;

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Ends a raw (upgrade) connection with a plain HTTP error. */
function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message }) + "\n";
  const reason = http.STATUS_CODES[status] ?? "Error";
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Starts the dashboard for a running daemon. The daemon also answers GET /cove/dashboard on its
 * API from then on (the address with the token, for `cove dashboard`), until the dashboard closes.
 */
export async function startDashboard(daemon: DashboardDaemon, settings: DashboardSettings): Promise<Dashboard> {
  if (!settings.tls && !isLoopbackHost(settings.host)) {
    throw invalid(`the dashboard may listen on ${settings.host} only with TLS client certificates: it is not a loopback address`, { code: "dashboard.tls-required", hint: "give a loopback address (127.0.0.1:9123), or TLS files" });
  }
  const assets = await loadAssets();
  const token = randomBytes(24).toString("base64url");
  const tokenBytes = Buffer.from(token);
  const scheme = settings.tls ? "https" : "http";
  let port = settings.port;
  const cookieName = () => `cove_dashboard_${port}`;
  const tokenMatches = (t: string | undefined): boolean => {
    if (t === undefined) return false;
    const b = Buffer.from(t);
    return b.length === tokenBytes.length && timingSafeEqual(b, tokenBytes);
  };
  const cookieToken = (req: http.IncomingMessage): string | undefined => {
    for (const part of String(req.headers.cookie ?? "").split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === cookieName()) return part.slice(eq + 1).trim();
    }
    return undefined;
  };
  const signedIn = (req: http.IncomingMessage) => tokenMatches(cookieToken(req));
  /** Why a request's Host or Origin is refused, or undefined. */
  const foreign = (req: http.IncomingMessage): string | undefined => {
    const host = String(req.headers.host ?? "");
    if (!settings.tls) {
      // a name rebound to 127.0.0.1 by a web page's DNS arrives with that name as Host
      const names = new Set(["127.0.0.1", "localhost", "[::1]", settings.host.includes(":") ? `[${settings.host}]` : settings.host].map((n) => `${n}:${port}`));
      if (!names.has(host.toLowerCase())) return `the dashboard answers to ${scheme}://${settings.host}:${port} only (this request names ${JSON.stringify(host)})`;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `${scheme}://${host}`) return `requests from ${origin} are refused: only the dashboard's own page may use it`;
    return undefined;
  };
  /** The route of an /api request, or why it is refused (paths without /api). */
  const forwardable = (method: string, p: string): string | undefined => {
    if (FORWARDED.some(([m, re]) => m === method && re.test(p))) return undefined;
    return `the dashboard does not forward ${method} ${p}: it serves its page's requests only; use the docker CLI or cove for the rest of the Engine API`;
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const method = (req.method ?? "GET").toUpperCase();
    const refusal = foreign(req);
    if (refusal) return sendJSON(res, 403, { message: refusal });
    if (url.pathname.startsWith("/api/")) {
      if (!signedIn(req)) return sendJSON(res, 401, { message: "the dashboard's token is missing or wrong: open the address `cove dashboard` prints" });
      if (req.headers[API_HEADER] !== "1") return sendJSON(res, 403, { message: `requests to the dashboard's API need the header ${API_HEADER}: 1 (the page sends it)` });
      const p = url.pathname.slice("/api".length);
      const why = forwardable(method, p);
      if (why) return sendJSON(res, 403, { message: why });
      req.url = (req.url ?? "").slice("/api".length);
      void daemon.router.handle(req, res);
      return;
    }
    if (method !== "GET" && method !== "HEAD") return sendJSON(res, 405, { message: `the dashboard's page takes GET, not ${method}` });
    if (url.pathname === "/" && url.searchParams.has("token")) {
      if (!tokenMatches(url.searchParams.get("token") ?? undefined)) {
        res.writeHead(401, { ...PAGE_HEADERS, "Content-Type": "text/html; charset=utf-8" });
        return void res.end(LOCKED_PAGE);
      }
      // the token leaves the address bar at once; the cookie carries it from now on
      res.writeHead(303, { ...PAGE_HEADERS, Location: "/", "Set-Cookie": `${cookieName()}=${token}; Path=/; HttpOnly; SameSite=Strict${settings.tls ? "; Secure" : ""}` });
      return void res.end();
    }
    const asset = assets.get(url.pathname);
    if (!asset) return sendJSON(res, 404, { message: `the dashboard has no page ${url.pathname}` });
    if (url.pathname === "/" && !signedIn(req)) {
      res.writeHead(401, { ...PAGE_HEADERS, "Content-Type": "text/html; charset=utf-8" });
      return void res.end(LOCKED_PAGE);
    }
    res.writeHead(200, { ...PAGE_HEADERS, "Content-Type": asset.type, "Content-Length": asset.body.length });
    res.end(method === "HEAD" ? undefined : asset.body);
  };

  /** Upgraded connections (WebSockets): the HTTP server no longer tracks them, close() ends them. */
  const upgraded = new Set<Duplex>();
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => ignored("a dashboard WebSocket's connection failed", err));
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    const url = new URL(req.url ?? "/", "http://dashboard");
    const refusal = foreign(req);
    if (refusal) return refuseUpgrade(socket, 403, refusal);
    if (!signedIn(req)) return refuseUpgrade(socket, 401, "the dashboard's token is missing or wrong: open the address `cove dashboard` prints");
    if (!isWebSocketRequest(req.headers) || (req.method ?? "GET").toUpperCase() !== "GET") return refuseUpgrade(socket, 400, "the dashboard upgrades WebSocket requests (GET) only");
    const p = url.pathname.startsWith("/api/") ? url.pathname.slice("/api".length) : "";
    const exec = EXEC_WS.exec(p);
    if (exec) return bridgeExec(decodeURIComponent(exec[1] as string), req, socket, head);
    if (!ATTACH_WS.test(p)) return refuseUpgrade(socket, 403, `the dashboard does not forward a WebSocket to ${url.pathname}`);
    req.url = (req.url ?? "").slice("/api".length);
    void daemon.router.handleUpgrade(req, socket, head);
  };

  /** Starts exec `id` over the daemon's socket (Upgrade: tcp, as the docker CLI) and carries it over the page's WebSocket. */
  const bridgeExec = (id: string, req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const engine = http.request({
      socketPath: daemon.socket,
      method: "POST",
      path: `/exec/${encodeURIComponent(id)}/start`,
      headers: { "Content-Type": "application/json", Connection: "Upgrade", Upgrade: "tcp" },
    });
    engine.on("upgrade", (_res, up: Duplex, upHead: Buffer) => {
      const ws = acceptWebSocket(socket, head, String(req.headers["sec-websocket-key"]), {
        binary: true,
        onMessage: (data) => {
          if (up.writable) up.write(data);
        },
        onClose: () => up.end(),
      });
      const forward = (chunk: Buffer) => {
        // the exec's output waits while the browser has not taken the last of it
        if (!ws.send(chunk)) {
          up.pause();
          socket.once("drain", () => up.resume());
        }
      };
      if (upHead.length > 0) forward(upHead);
      up.on("data", forward);
      up.on("end", () => ws.close(1000));
      up.on("close", () => ws.close(1000));
      up.on("error", (err) => {
        ignored(`the exec ${id}'s stream for the dashboard failed`, err);
        ws.close(1011);
      });
    });
    engine.on("response", (res) => {
      // not upgraded: the engine's error (no such exec, already started) goes back to the page as is
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let message = Buffer.concat(chunks).toString().trim();
        try {
          message = (JSON.parse(message) as { message?: string }).message ?? message;
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err; // a body that is not JSON is shown as it is
        }
        refuseUpgrade(socket, res.statusCode ?? 500, message || `starting exec ${id} failed`);
      });
    });
    engine.on("error", (err) => refuseUpgrade(socket, 502, `the daemon's socket ${daemon.socket} did not start exec ${id}: ${err.message}`));
    engine.end(JSON.stringify({ Detach: false, Tty: true }));
  };

  let server: http.Server;
  if (settings.tls) {
    let files: Buffer[];
    try {
      files = await Promise.all([readFile(settings.tls.cert), readFile(settings.tls.key), readFile(settings.tls.ca)]);
    } catch (err) {
      throw fromErrno(err, "reading the dashboard's TLS files");
    }
    const [cert, key, ca] = files;
    server = https.createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: true, requestTimeout: 0 });
  } else server = http.createServer({ requestTimeout: 0 });
  server.on("request", onRequest);
  server.on("upgrade", onUpgrade);
  server.on("clientError", (_err, sock) => sock.destroy());
  try {
    await listen(server, settings.host, settings.port);
  } catch (err) {
    throw fromErrno(err, `the dashboard listening on ${settings.host}:${settings.port}`, "choose another address (cove daemon --dashboard HOST:PORT, or \"addr\" in daemon.json's \"dashboard\"), or stop what listens there");
  }
  port = (server.address() as AddressInfo).port;
  const shownHost = settings.host === "0.0.0.0" || settings.host === "::" ? os.hostname() : settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  const address = `${scheme}://${shownHost}:${port}/`;
  const url = `${address}?token=${token}`;
  const report = reportOn(daemon.router);
  const mine = { URL: url, Address: address, TLS: !!settings.tls };
  report.current = mine;
  return {
    url,
    address,
    host: settings.host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        if (report.current === mine) delete report.current;
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of upgraded) s.destroy();
      }),
  };
}
