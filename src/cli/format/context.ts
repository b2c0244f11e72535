// docker/cli's formatter contexts and inspector: a row's {{json .}} (every field, keys sorted),
// and an inspect template run over a typed document first, then over its JSON when a field is
// missing (TemplateInspector's fallback).

import { CoveError, invalid } from "../../common/errors.js";
import { parseTemplate, type Template } from "./index.js";
import { marshalJSON, MARSHAL_JSON } from "./values.js";

/** Base of the formatter contexts: {{json .}} marshals every field, keys sorted, as docker's MarshalJSON. */
export abstract class RowContext {
  protected abstract fields(): readonly string[];

  [MARSHAL_JSON](): string {
    const obj: Record<string, unknown> = {};
    for (const f of this.fields()) obj[f] = (this as unknown as Record<string, unknown>)[f];
    return marshalJSON(obj, { sortKeys: true, escapeHTML: true });
  }
}

/** An inspect command's --format: undefined for none (or "json"), else the parsed template. */
export function inspectFormat(format: string | undefined): Template | undefined {
  if (format === undefined || format === "" || format === "json") return undefined;
  try {
    return parseTemplate(format);
  } catch (err) {
    throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.parse" });
  }
}

/** docker's TemplateInspector: typed evaluation first, the raw-map fallback when a field is missing. */
export function inspectTemplate(tmpl: Template, value: unknown): string {
  try {
    return tmpl.execute(value);
  } catch (err) {
    if (!(err instanceof CoveError) || !/can't evaluate field/.test(err.message)) {
      throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.exec" });
    }
    try {
      return tmpl.execute(JSON.parse(marshalJSON(value)), undefined, { objectsAsMaps: true });
    } catch (err2) {
      throw invalid(`template parsing error: ${(err2 as Error).message}`, { code: "template.exec" });
    }
  }
}
