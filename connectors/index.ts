// The registry of destination connectors, keyed by the `type` used in the config.
import type { Connector } from './contract.js';
import { appizer } from './appizer/index.js';
import { formbricks } from './formbricks/index.js';
import { gamifyhost } from './gamifyhost/index.js';
import { segment } from './segment/index.js';
import { userpilot } from './userpilot/index.js';
import { vitally } from './vitally/index.js';

export const connectors = {
  gamifyhost,
  appizer,
  vitally,
  userpilot,
  formbricks,
  segment,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry of differently typed connectors
} as const satisfies Record<string, Connector<any, any>>;

export type ConnectorType = keyof typeof connectors;

export function connectorFor(type: string): Connector {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  const connector = (connectors as Record<string, Connector<any, any>>)[type];
  if (!connector) throw new Error(`unknown destination type "${type}"`);
  return connector;
}
