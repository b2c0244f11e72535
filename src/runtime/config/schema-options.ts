// The ajv options and entry schemas shared by the ahead-of-time generator (gen-validators.ts)
// and the runtime fallback in schema.ts, so both compile the same validators.

export const AJV_OPTIONS = { allErrors: true, verbose: true, strict: false, validateSchema: false, validateFormats: false } as const;

export const ENTRY = {
  config: "config-schema.json",
  features: "features-schema.json",
  state: "state-schema.json",
} as const;
