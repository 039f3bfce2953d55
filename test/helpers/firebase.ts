/**
 * Makes firebase-functions-test generate 2nd-gen CloudEvents for a plain tidemark handler:
 * it needs only an object with `run` and `__endpoint.eventTrigger`.
 */
import functionsTest from 'firebase-functions-test';

export function asCloudFunction<T>(
  eventType: string,
  eventFilters: Record<string, string>,
  run: (event: any) => Promise<T>,
) {
  return Object.assign(run, {
    run,
    __endpoint: { platform: 'gcfv2', eventTrigger: { eventType, eventFilters, retry: true } },
    __trigger: {},
  });
}

const harness = functionsTest();

/** Wraps a handler the way firebase-functions-test wraps a deployed function. */
export function wrapCloudEvent<T>(
  eventType: string,
  eventFilters: Record<string, string>,
  run: (event: any) => Promise<T>,
): (partial?: any) => Promise<T> {
  return harness.wrap(asCloudFunction(eventType, eventFilters, run) as never) as never;
}
