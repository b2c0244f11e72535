// The ajv options and entry schemas of the ahead-of-time generator (gen-validators.ts); schema.ts
// looks its validators up by the same entry names.

export const AJV_OPTIONS = { allErrors: true, verbose: true, strict: false, validateSchema: false, validateFormats: false } as const;

export const ENTRY = {
  config: "config-schema.json",
  features: "features-schema.json",
  state: "state-schema.json",
} as const;
