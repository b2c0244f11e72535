// Which stages a stage needs: its FROM of an earlier stage, its COPY --from and its RUN
// --mount from= that name an earlier stage (by name or by position). From these the planner keeps
// only the stages a --target needs (as BuildKit: a stage nothing reaches is never built), and the
// executor starts a stage as soon as the stages it needs are built, so that independent stages
// run side by side.
//
// A reference is resolved against the stages before the one that makes it, as dockerd's builder
// does; a name that is not an earlier stage is an image reference. A stage that names itself or a
// later stage is refused: that would be a cycle, or a build order the Dockerfile does not give.

import { invalid } from "../common/errors.js";
import type { Stage } from "./steps.js";

/** The references a stage's steps make to other stages or images, as written (no variables expanded). */
export function literalRefs(stage: Stage): string[] {
  const refs: string[] = [];
  for (const step of stage.steps) {
    if ((step.kind === "copy" || step.kind === "add") && step.from !== undefined) refs.push(step.from);
    if (step.kind === "run") for (const m of step.mounts ?? []) if (m.from !== undefined) refs.push(m.from);
  }
  return refs;
}

/** A stage's position in its Dockerfile (what --from=N names). */
export const stageIndex = (stage: Stage, position: number): number => stage.index ?? position;

/**
 * For each stage, the positions (in `stages`) of the stages it needs directly. A reference to
 * the stage itself or to a later stage fails with the stage's FROM line in the message.
 */
export function stageDependencies(stages: readonly Stage[]): number[][] {
  const byName = new Map<string, number>();
  const byIndex = new Map<string, number>();
  stages.forEach((s, i) => {
    if (s.name !== undefined) byName.set(s.name.toLowerCase(), i);
    byIndex.set(String(stageIndex(s, i)), i);
  });
  return stages.map((stage, i) => {
    const refs = [...("stage" in stage.base ? [stage.base.stage] : []), ...(stage.uses ?? literalRefs(stage))];
    const deps = new Set<number>();
    for (const ref of refs) {
      const lower = ref.toLowerCase();
      const at = byName.get(lower) ?? byIndex.get(lower);
      if (at === undefined) continue;
      if (at >= i) {
        const who = stage.name ?? String(stageIndex(stage, i));
        throw invalid(`stage ${who} uses stage ${ref}, which ${at === i ? "is itself" : "comes after it"}: a stage can use only the stages before it (circular dependency)`, { code: "build.stage-cycle" });
      }
      deps.add(at);
    }
    return [...deps].sort((a, b) => a - b);
  });
}

/** The positions of `target` and every stage it needs, directly or not, in order. */
export function neededStages(deps: readonly number[][], target: number): number[] {
  const seen = new Set<number>();
  const visit = (i: number): void => {
    if (seen.has(i)) return;
    seen.add(i);
    for (const d of deps[i] ?? []) visit(d);
  };
  visit(target);
  return [...seen].sort((a, b) => a - b);
}
