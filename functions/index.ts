/**
 * The deployable entry: every function of the manifest, registered by its own name. Each Cloud
 * Function runs this one source with its own entry point (FUNCTION_TARGET); only that
 * function's composition root runs, so one function's configuration never fails another's
 * cold start. Without FUNCTION_TARGET (a local multi-function process) all register.
 */
import { armFaults } from '../shared/fault-inject';
import { installStructuredStdio } from '../shared/structured-stdio';
import { topology } from '../shared/topology';
import { REGISTRY } from './registry';

const target = process.env.FUNCTION_TARGET;
// One JSON entry a line, whatever prints: the Functions Framework's banner and stack traces too.
installStructuredStdio(target);
// Test-only crash points (shared/fault-inject); unset outside the fault-injection suite.
armFaults(process.env.FAULT_INJECT, target, process.env.LOCAL_INSTANCE);
for (const { name } of topology.functions) {
  const register = Object.hasOwn(REGISTRY, name) ? REGISTRY[name] : undefined;
  if (register && (!target || target === name)) register(process.env);
}
