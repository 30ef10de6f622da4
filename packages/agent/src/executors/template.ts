/**
 * `{placeholder}` templates for --command, --install-command and --app-path. In commands
 * every substituted value is shell-quoted, so a test path with spaces or quotes stays one
 * argument and cannot inject shell syntax; write `{test_path}`, not `"{test_path}"`.
 */

/** POSIX single-quoting: `it's` → `'it'\''s'`. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** Placeholder names used in `template`. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] as string);
}

/** Replaces known placeholders; unknown ones are left as written (flags reject them up front). */
export function fillTemplate(
  template: string,
  values: Record<string, string>,
  encode: (value: string) => string = (v) => v,
): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name];
    return value === undefined ? whole : encode(value);
  });
}

export function fillCommand(template: string, values: Record<string, string>): string {
  return fillTemplate(template, values, shellQuote);
}
