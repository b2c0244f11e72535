// Public entry of the pod service: pods of containers sharing namespaces around an infra
// container running cove's pause program (service.ts), their rules (spec.ts) and shapes (types.ts).

export { PodService, type PodEvent, type PodServiceOptions } from "./service.js";
export { POD_LABEL, INFRA_LABEL, PAUSE_PATH, podState, podRecordOf, memberBody, infraBody, portBindings, checkPortMappings } from "./spec.js";
export { ensurePauseImage, pauseLayer, PAUSE_REPOSITORY, type PauseImages } from "./pause.js";
export type * from "./types.js";
