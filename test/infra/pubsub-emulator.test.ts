/** The emulator helper itself: skip loudly locally, never skip under CI, leave nothing running. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INSTALL_HINT, emulatorSuite, startPubSubEmulator } from '../helpers/pubsub-emulator.ts';

const missing = () => ({ ok: false, why: 'no Pub/Sub emulator jar under /sdk/platform/pubsub-emulator/lib' });

describe('emulatorSuite', () => {
  it('skips loudly, with the reason and how to install, when the emulator is missing', () => {
    const warnings: string[] = [];
    const { skip } = emulatorSuite({ env: {}, check: missing, warn: (t) => warnings.push(t) });
    assert.ok(skip?.includes('no Pub/Sub emulator jar') && skip.includes(INSTALL_HINT), skip);
    assert.match(warnings.join(''), /!!! SKIPPING Pub\/Sub emulator tests\..*gcloud components install pubsub-emulator beta/);
  });

  it('does not skip under CI=true: the suite then fails on the missing emulator', () => {
    const warnings: string[] = [];
    assert.deepEqual(emulatorSuite({ env: { CI: 'true' }, check: missing, warn: (t) => warnings.push(t) }), {});
    assert.match(warnings.join(''), /CI=true: the emulator tests fail instead of skipping/);
  });

  it('runs the suite, silently, when the emulator is there', () => {
    const warnings: string[] = [];
    assert.deepEqual(emulatorSuite({ env: {}, check: () => ({ ok: true }), warn: (t) => warnings.push(t) }), {});
    assert.deepEqual(warnings, []);
  });
});

describe('startPubSubEmulator', emulatorSuite(), () => {
  it('answers once started and stops listening, its whole process group gone, once stopped', async () => {
    const emulator = await startPubSubEmulator({ projectId: 'tidemark-helper' });
    const response = await fetch(`http://${emulator.host}/v1/projects/tidemark-helper/topics`);
    assert.equal(response.status, 200);
    await emulator.stop();
    await assert.rejects(fetch(`http://${emulator.host}/`, { signal: AbortSignal.timeout(2_000) }));
  });
});
