import { topology } from '../../shared/topology';
import { NAME } from './core';

/** What gap-detector does with a message, by the subscription (hence topic) it came through. */
export type Route = 'sequences' | 'chains' | 'ticks';

const SUBSCRIPTIONS: Readonly<Record<Route, string>> = {
  sequences: 'gap-detector-sequences',
  chains: 'gap-detector-chains',
  ticks: 'gap-detector-ticks',
};

/** Topic → route, from the manifest: checked at load, so a renamed subscription fails loudly. */
export const ROUTES: ReadonlyMap<string, Route> = new Map(
  (Object.keys(SUBSCRIPTIONS) as Route[]).map((route) => {
    const s = topology.subscriptions.find((x) => x.name === SUBSCRIPTIONS[route]);
    if (!s || s.push?.function !== NAME) throw new Error(`subscription ${SUBSCRIPTIONS[route]} pushing to ${NAME} is not in shared/topology.json`);
    return [s.topic, route];
  }),
);

export function routeOf(topic: string | undefined, resourcePrefix: string): Route | undefined {
  if (topic === undefined) return undefined;
  return ROUTES.get(resourcePrefix !== '' && topic.startsWith(resourcePrefix) ? topic.slice(resourcePrefix.length) : topic);
}
