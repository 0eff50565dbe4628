/**
 * The deployable entry: every function of the manifest, registered by its own name. Each Cloud
 * Function runs this one source with its own entry point (FUNCTION_TARGET); only that
 * function's composition root runs, so one function's configuration never fails another's
 * cold start. Without FUNCTION_TARGET (a local multi-function process) all register.
 */
import { registerPush } from '../shared/pubsub/push-http';
import { cloudBoundary } from '../shared/boundary-cloud';
import { placeholderNote, unsetSecrets } from '../shared/config';
import { ConfigError } from '../shared/errors';
import { armFaults } from '../shared/fault-inject';
import { jsonLogger } from '../shared/log';
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
  if (register && (!target || target === name)) registerOrHold(name, register);
}

/**
 * A function whose secret has only Terraform's placeholder version (the first apply creates the
 * secrets, their values come after: README, Deploy to GCP) still starts, as Cloud Run needs for
 * the deploy to finish; it fails every delivery through its error boundary with the ConfigError
 * that names the secret, so the messages are redelivered, then dead-lettered with that reason
 * recorded for triage (and replayed from there once the secret has a value). Any other
 * configuration error fails the cold start, loudly.
 */
function registerOrHold(name: string, register: (env: NodeJS.ProcessEnv) => void): void {
  try {
    register(process.env);
  } catch (err) {
    const unset = unsetSecrets(process.env);
    if (!(err instanceof ConfigError) || unset.length === 0) throw err;
    const reason = err.message.includes(placeholderNote(unset)) ? err : new ConfigError(`${err.message}\n${placeholderNote(unset)}`);
    jsonLogger(undefined, { function: name }).log('ERROR', `${name} holds every delivery: ${reason.message}`);
    registerPush(
      name,
      cloudBoundary(name, process.env, () => Promise.reject(reason)),
    );
  }
}
