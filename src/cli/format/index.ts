// Go templates for `--format`, as the docker CLI evaluates them: parseTemplate() compiles Go's
// text/template syntax with docker/cli's function map; formatRows() implements docker/cli's
// formatter (table / json / custom formats, tabwriter-aligned tables with a header row), its row
// contexts and its inspector.

import { invalid } from "../../common/errors.js";
import { builtinFuncs, headerFuncs, State, type TemplateFunc } from "./exec.js";
import { parse, type ParsedTemplate } from "./parse.js";
import { tabwrite, DOCKER_TABLE } from "./tabwriter.js";
import { goMap, type EvalOptions } from "./values.js";

export { goMap, marshalJSON, formatValue, sprintf, MARSHAL_JSON, GO_TYPE, type EvalOptions } from "./values.js";
export { tabwrite, displayWidth, DOCKER_TABLE } from "./tabwriter.js";
export { FuncError, type TemplateFunc } from "./exec.js";
export { RowContext, inspectFormat, inspectTemplate } from "./context.js";

export interface TemplateOptions extends EvalOptions {
  /** The template's name, shown in error messages (docker's templates are unnamed: ""). */
  name?: string;
  /** Extra functions, added to (or replacing) the builtins. */
  funcs?: Record<string, TemplateFunc>;
}

export class Template {
  constructor(
    readonly parsed: ParsedTemplate,
    private readonly options: TemplateOptions,
  ) {}

  /** Runs the template over `data`. Throws CoveError (code template.exec) with Go's message. */
  execute(data: unknown, funcs?: Record<string, TemplateFunc>, opts?: EvalOptions): string {
    const evalOpts: EvalOptions = { ...this.options, ...opts };
    const all = { ...builtinFuncs(evalOpts), ...this.options.funcs, ...funcs };
    return new State(this.parsed, all, evalOpts).run(data);
  }
}

/** Parses Go text/template source. Throws CoveError (code template.parse) with Go's message. */
export function parseTemplate(text: string, options: TemplateOptions = {}): Template {
  const names = new Set([...Object.keys(builtinFuncs({})), ...Object.keys(options.funcs ?? {})]);
  return new Template(parse(options.name ?? "", text, names), options);
}

/** docker/cli's Format preprocessing: "table"/"json" keys, trimmed, "\t" and "\n" unescaped. */
export function preFormat(format: string): { template: string; table: boolean } {
  let f = format;
  const table = f.startsWith("table");
  if (table) f = f.slice("table".length);
  else if (f === "json") f = "{{json .}}";
  f = f.replace(/^ +| +$/g, "").replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  return { template: f, table };
}

/**
 * Renders rows as docker/cli's formatter does: an empty format or "table" uses `defaultTable`;
 * "table ..." prints a header (the template run over `headers` with the header functions) and
 * the rows aligned by the tabwriter (minwidth 10, padding 3); "json" prints `{{json .}}` per row;
 * any other template prints one line per row.
 */
export function formatRows(
  format: string | undefined,
  rows: object[],
  defaultTable: string,
  headers: Record<string, string>,
  options: TemplateOptions = {},
): string {
  const source = format === undefined || format === "" || format === "table" ? defaultTable : format;
  const { template, table } = preFormat(source);
  let tmpl: Template;
  try {
    tmpl = parseTemplate(template, options);
  } catch (err) {
    throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.parse" });
  }
  let body = "";
  for (const row of rows) {
    try {
      body += tmpl.execute(row) + "\n";
    } catch (err) {
      throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.exec" });
    }
  }
  if (!table) return body;
  let header: string;
  try {
    header = tmpl.execute(goMap({ ...headers }), headerFuncs(options));
  } catch {
    // the rows rendered, so the template is sound; a header it cannot make (a method only rows
    // have) is left empty, as docker's formatter ignores its header's error too
    header = "";
  }
  return tabwrite(header + "\n" + body, DOCKER_TABLE);
}
