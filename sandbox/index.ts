// The registry `backflow sandbox` starts emulators from: for each destination type, the strict
// emulator of that vendor, the settings that point a destination at it (its base URL and a fake
// credential the emulator accepts), and what the emulator holds afterwards.
import { AppizerEmulator } from './appizer.js';
import { FormbricksEmulator } from './formbricks.js';
import { GamifyHostEmulator } from './gamifyhost.js';
import type { HttpEmulator } from './http-emulator.js';
import { SegmentEmulator } from './segment.js';
import { UserpilotEmulator } from './userpilot.js';
import { VitallyEmulator } from './vitally.js';

export interface SandboxEmulator {
  emulator: HttpEmulator;
  /** Settings of the destination that replace the config's once the emulator listens at `url`. */
  settings(url: string): Record<string, string>;
  /** What the emulator keeps, e.g. { profiles: 2999 }. */
  holds(): Record<string, number>;
}

// Fake credentials: valid only for these emulators. GamifyHost's must look like a TEST key.
const KEY = 'sandbox-key';
const GAMIFY_KEY = 'pk_test_sandbox';
const ENVIRONMENT = 'sandbox';

const factories: Record<string, () => SandboxEmulator> = {
  gamifyhost: () => {
    const emulator = new GamifyHostEmulator([GAMIFY_KEY]);
    return { emulator, settings: (url) => ({ apiKey: GAMIFY_KEY, baseUrl: url }), holds: () => ({ profiles: emulator.profiles.size }) };
  },
  appizer: () => {
    const emulator = new AppizerEmulator([KEY]);
    return { emulator, settings: (url) => ({ apiKey: KEY, baseUrl: url }), holds: () => ({ users: emulator.users.size }) };
  },
  vitally: () => {
    const emulator = new VitallyEmulator(KEY);
    // The subdomain only builds the real URL, which baseUrl replaces.
    return { emulator, settings: (url) => ({ token: KEY, subdomain: ENVIRONMENT, baseUrl: url }), holds: () => ({ users: emulator.users.size }) };
  },
  userpilot: () => {
    const emulator = new UserpilotEmulator([KEY]);
    return { emulator, settings: (url) => ({ apiKey: KEY, environment: ENVIRONMENT, baseUrl: url }), holds: () => ({ users: emulator.users.size }) };
  },
  formbricks: () => {
    const emulator = new FormbricksEmulator([ENVIRONMENT]);
    return { emulator, settings: (url) => ({ environmentId: ENVIRONMENT, baseUrl: url }), holds: () => ({ contacts: emulator.contacts.size }) };
  },
  segment: () => {
    const emulator = new SegmentEmulator([KEY]);
    return {
      emulator,
      settings: (url) => ({ writeKey: KEY, host: url }),
      holds: () => ({ messages: emulator.messages.length, dropped: emulator.dropped.length }),
    };
  },
};

/** The destination types a sandbox can emulate. */
export const sandboxTypes = Object.keys(factories);

/** A fresh emulator for a destination of `type`, or undefined when there is none for it. */
export function sandboxFor(type: string): SandboxEmulator | undefined {
  return factories[type]?.();
}
