#!/usr/bin/env node
// npm run bench:tables — writes the README's benchmark tables from bench/results/*.json (what
// bench/lib.ts writeResults leaves). For each results file NAME, the text between
// `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` becomes one line saying when, where and how
// it was measured, then a Markdown table of its rows. A file without its pair of markers
// leaves the README alone (a note is printed).
//   node scripts/bench-tables.mjs [--check] [--readme=README.md] [--results=bench/results]
// --check writes nothing and exits 1 when the README differs from what would be written.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    check: { type: 'boolean', default: false },
    readme: { type: 'string', default: join(root, 'README.md') },
    results: { type: 'string', default: join(root, 'bench', 'results') },
  },
});
const readmePath = resolve(values.readme);
const resultsDir = resolve(values.results);

/** A cell: integers get thousands separators, `|` is escaped, line breaks become spaces. */
function cell(value) {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'number' && Number.isInteger(value) ? value.toLocaleString('en-US') : String(value);
  return text.replaceAll('|', '\\|').replace(/\r?\n/g, ' ');
}

function markdownTable(rows) {
  const keys = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!keys.includes(key)) keys.push(key);
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [
    line(keys.map(cell)),
    line(keys.map(() => '---')),
    ...rows.map((r) => line(keys.map((k) => cell(r[k])))),
  ].join('\n');
}

function describeRun(results) {
  const { date, commit = {}, machine = {}, command, params = {} } = results;
  const sha = `${String(commit.sha ?? 'unknown').slice(0, 7)}${commit.dirty ? '-dirty' : ''}`;
  const where = [
    machine.cpu ?? 'unknown CPU',
    `${machine.cores ?? '?'} cores`,
    `${machine.memory_gib ?? '?'} GiB`,
    `Node ${String(machine.node ?? '?').replace(/^v/, '')}`,
    // server_version may carry the packager's suffix: "15.20 (Debian 15.20-0+deb12u1)".
    ...(machine.postgresql ? [`PostgreSQL ${String(machine.postgresql).split(' ')[0]}`] : []),
  ].join(', ');
  const settings = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const day = String(date ?? '').slice(0, 10) || 'on an unknown date';
  return `Measured ${day} on commit \`${sha}\` (${where}); \`${command ?? `npm run bench:${results.benchmark}`}\`${settings ? `, ${settings}` : ''}`;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let files;
try {
  files = readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
} catch (error) {
  console.error(`bench-tables: cannot read ${resultsDir}: ${error.message}`);
  process.exit(2);
}
const before = readFileSync(readmePath, 'utf8');
let readme = before;
const changed = [];
if (files.length === 0) console.log(`bench-tables: no results in ${resultsDir}`);
for (const file of files) {
  const name = basename(file, '.json');
  let results;
  try {
    results = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
  } catch (error) {
    console.error(`bench-tables: ${file}: ${error.message}`);
    process.exit(2);
  }
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const pair = new RegExp(`${escapeRegExp(open)}[\\s\\S]*?${escapeRegExp(close)}`);
  if (!pair.test(readme)) {
    console.log(`bench-tables: note: ${basename(readmePath)} has no ${open} … ${close}; ${file} not written`);
    continue;
  }
  const section = `${open}\n${describeRun(results)}\n\n${markdownTable(results.rows ?? [])}\n${close}`;
  const next = readme.replace(pair, () => section);
  if (next !== readme) changed.push(name);
  readme = next;
}

if (values.check) {
  if (readme !== before) {
    console.log(`bench-tables: ${basename(readmePath)} is out of date for: ${changed.join(', ')}`);
    process.exit(1);
  }
  console.log(`bench-tables: ${basename(readmePath)} is up to date`);
} else if (readme !== before) {
  writeFileSync(readmePath, readme);
  console.log(`bench-tables: wrote ${changed.join(', ')} into ${basename(readmePath)}`);
} else {
  console.log(`bench-tables: ${basename(readmePath)} already up to date`);
}
