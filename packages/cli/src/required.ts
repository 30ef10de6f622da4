/**
 * The flags a command cannot run without, declared once: `--help` marks them `(required)`,
 * and a command line missing some is refused naming every one of them at once, before any
 * command code loads. Each requirement is one flag (`--org-id`), or alternatives of which
 * one is needed (`--job-id` or `--submission-id`; `FILE` or `--url`, FILE being an argument).
 */
import type { Command } from 'commander';
import { UsageError } from './errors.js';

export type Requirement = readonly [string, ...string[]];

/** `--org-id` → `orgId`, `FILE` → `file`: where commander keeps the value. */
function keyOf(name: string): string {
  if (!name.startsWith('-')) return name.toLowerCase();
  return name.replace(/^-+/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function note(name: string, requirement: Requirement): string {
  const others = requirement.filter((n) => n !== name);
  return others.length === 0 ? '(required)' : `(required, or ${others.join(' or ')})`;
}

/** Appends `(required)`, or `(required, or --other)`, to the help of each flag and argument named. */
export function markRequired(command: Command, requirements: readonly Requirement[]): void {
  for (const requirement of requirements) {
    for (const name of requirement) {
      const option = command.options.find((o) => o.long === name);
      if (option) {
        option.description = `${option.description} ${note(name, requirement)}`;
        continue;
      }
      const argument = command.registeredArguments.find((a) => a.name().toUpperCase() === name);
      if (argument) argument.description = `${argument.description} ${note(name, requirement)}`;
    }
  }
}

function missing(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'string') return value.trim() === '';
  if (Array.isArray(value)) return value.length === 0;
  return false;
}

/** The requirements `options` leaves unmet. */
export function unmet(options: Record<string, unknown>, requirements: readonly Requirement[]): Requirement[] {
  return requirements.filter((r) => r.every((name) => missing(options[keyOf(name)])));
}

/**
 * One message for them all: `--org-id is required`, `--job-id or --submission-id is
 * required`, `--org-id, --app-version-id and FILE (or --url) are required`.
 */
export function requiredMessage(requirements: readonly Requirement[]): string {
  if (requirements.length === 1) return `${(requirements[0] as Requirement).join(' or ')} is required`;
  const names = requirements.map(([first, ...others]) =>
    others.length === 0 ? first : `${first} (or ${others.join(' or ')})`,
  );
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are required`;
}

/** Throws a usage error naming every unmet requirement. */
export function checkRequired(
  options: Record<string, unknown>,
  requirements: readonly Requirement[],
  hint: string,
): void {
  const left = unmet(options, requirements);
  if (left.length > 0) throw new UsageError(requiredMessage(left), { hint });
}
