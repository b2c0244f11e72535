// A process that runs one build and is killed in the middle of it: the executor test starts it,
// waits for "RUNNING <container>" on its stdout (the RUN step's command has started), and sends
// SIGKILL, as a daemon killed mid-build. Arguments: state root, runtime root, build context.

import { Builder } from "../../src/build/index.js";
import { ContainerService } from "../../src/containers/index.js";
import { ImageService } from "../../src/images/service.js";

const [root, runtimeRoot, context] = process.argv.slice(2);
if (!root || !runtimeRoot || !context) throw new Error("usage: build-child ROOT RUNTIME_ROOT CONTEXT");
const images = await ImageService.open({ root });
const containers = await ContainerService.open({ root, runtimeRoot, images });
const builder = Builder.open(containers, images);
let running = "";
for await (const e of builder.build([{ base: { image: "busybox" }, steps: [{ kind: "run", command: "echo started; sleep 600" }] }], { context, noCache: true, tags: ["cove-killed:1"] })) {
  if (e.type === "running") running = e.container;
  if (e.type === "output" && e.data.toString() === "started\n") process.stdout.write(`RUNNING ${running}\n`);
}
