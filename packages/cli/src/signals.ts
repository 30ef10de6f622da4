/**
 * The CLI's one signal handler, which main.ts installs for SIGINT. States:
 * - idle: the first SIGINT aborts the command's signal (it tidies up and exits 130); a
 *   second one exits 130 at once.
 * - hooked (a wait that cancels its jobs on an interrupt, commands/interrupt.ts): SIGTERM
 *   and SIGHUP are handled too. The first signal calls the hook's `first` (a SIGINT also
 *   aborts the command's signal, as when idle); any later one calls its `again`, then
 *   exits 130 at once. A SIGINT that came before the hook counts as the first.
 * Back to idle when the hook is removed; outside a hook SIGTERM and SIGHUP keep Node's
 * default (the process ends).
 */

export interface SignalHook {
  /** The first signal: start the tidy-up (cancel the jobs). */
  first(signal: NodeJS.Signals): void;
  /** A later one, just before the exit: say what is left undone. */
  again(signal: NodeJS.Signals): void;
}

const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let command: AbortController | undefined;
let hook: { hook: SignalHook; seen: boolean } | undefined;

function handle(signal: NodeJS.Signals): void {
  const aborted = command?.signal.aborted === true;
  if (signal === 'SIGINT') command?.abort();
  if (hook === undefined) {
    if (aborted) process.exit(130);
    return;
  }
  if (hook.seen) {
    hook.hook.again(signal);
    process.exit(130);
  }
  hook.seen = true;
  hook.hook.first(signal);
}

/** Installs the handler for SIGINT: it aborts `controller` (main.ts's, whose signal every command gets). */
export function handleSignals(controller: AbortController): void {
  command = controller;
  process.on('SIGINT', handle);
}

/** Sets `hook` until the returned function is called; only one hook at a time. */
export function hookSignals(signalHook: SignalHook): () => void {
  const added = HOOKED.filter((signal) => !process.listeners(signal).includes(handle));
  for (const signal of added) process.on(signal, handle);
  const current = { hook: signalHook, seen: command?.signal.aborted === true };
  hook = current;
  return () => {
    if (hook === current) hook = undefined;
    for (const signal of added) process.off(signal, handle);
  };
}
