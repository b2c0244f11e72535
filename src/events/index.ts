// Public entry of the event bus: the engine's services publish to it, and both the daemon
// (GET /events) and the library (Engine.events) read from it. It sits below both, so neither
// has to import the other to share it.

export { EventBus, EventFilter, eventJSON, parseEventTime, nowNano, type EventBusOptions, type EventListener, type EventMessage, type EventActor, type EventType, type PublishInput } from "./bus.js";
