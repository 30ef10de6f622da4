/**
 * Every command, in the order the top-level help lists them: their definitions only, which
 * load no command code (each definition imports its run code when the command runs).
 */
import { agents } from './agents/definition.js';
import { app } from './app/definition.js';
import { artifacts } from './artifacts/definition.js';
import { cancel } from './cancel/definition.js';
import type { CommandDefinition, GroupDefinition } from './define.js';
import { drain, enable } from './drain/definition.js';
import { list } from './list/definition.js';
import { logs } from './logs/definition.js';
import { rerun } from './rerun/definition.js';
import { status } from './status/definition.js';
import { submit } from './submit/definition.js';
import { token } from './token/definition.js';
import { wait } from './wait/definition.js';

export const COMMANDS: readonly (CommandDefinition | GroupDefinition)[] = [
  submit,
  rerun,
  status,
  wait,
  list,
  cancel,
  logs,
  artifacts,
  app,
  agents,
  drain,
  enable,
  token,
];
