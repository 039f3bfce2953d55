/** The config's `alerts` and `statusPage` sections: optional, validated with the key and reason. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { EVENTS_YAML } from '../../helpers/local-env.ts';

const parse = (extra: string) => parseConfig(`${EVENTS_YAML}${extra}`, '/virtual/tidemark.config.yaml');

describe('alerts and statusPage config', () => {
  it('are optional', () => {
    const c = parse('');
    assert.equal(c.alerts, undefined);
    assert.equal(c.statusPage, undefined);
  });
  it('are read when given', () => {
    const c = parse(
      'alerts: { notificationChannels: [projects/test-project/notificationChannels/123] }\nstatusPage: { operators: ["user:alice@example.com", "domain:ops.example.com"] }\n',
    );
    assert.deepEqual(c.alerts, { notificationChannels: ['projects/test-project/notificationChannels/123'] });
    assert.deepEqual(c.statusPage, { operators: ['user:alice@example.com', 'domain:ops.example.com'], invokers: [] });
  });
  it('reads statusPage.invokers: who may open the page read-only (groups allowed: IAM checks membership)', () => {
    const c = parse('statusPage: { invokers: ["group:readers@example.com", "domain:example.com"] }\n');
    assert.deepEqual(c.statusPage, { operators: [], invokers: ['group:readers@example.com', 'domain:example.com'] });
  });
  const bad: [string, string, RegExp][] = [
    [
      'a channel that is not a resource name',
      'alerts: { notificationChannels: [email-me] }\n',
      /alerts\.notificationChannels\[0\].*projects\/<project>\/notificationChannels\/<id>/,
    ],
    [
      'no channel at all',
      'alerts: { notificationChannels: [] }\n',
      /alerts\.notificationChannels.*at least one channel/,
    ],
    [
      'an operator without a kind',
      'statusPage: { operators: ["alice@example.com"] }\n',
      /statusPage\.operators\[0\].*user:<email>/,
    ],
    [
      'a group (membership cannot be checked by the page)',
      'statusPage: { operators: ["group:ops@example.com"] }\n',
      /statusPage\.operators\[0\]/,
    ],
    [
      'allUsers as an invoker (the page is never public)',
      'statusPage: { invokers: ["allUsers"] }\n',
      /statusPage\.invokers\[0\].*never allUsers/,
    ],
    [
      'allAuthenticatedUsers as an invoker',
      'statusPage: { invokers: ["allAuthenticatedUsers"] }\n',
      /statusPage\.invokers\[0\]/,
    ],
  ];
  for (const [name, extra, re] of bad) it(`rejects ${name}`, () => assert.throws(() => parse(extra), re));
});
