/**
 * Google REST APIs without a client library here (IAM, Resource Manager, Cloud Functions, Cloud
 * Run, and the IAM methods of Storage and Pub/Sub), spoken through google-auth-library's
 * authenticated `request`. Base URLs are injectable so tests point them at a local server.
 * Retries happen in `withRetry` only.
 */
import { withRetry } from '../shared/backends/gcp/retry.ts';

/** The base URL of each API, without a trailing slash. */
export interface RestEndpoints {
  iam: string;
  cloudresourcemanager: string;
  cloudfunctions: string;
  run: string;
  storage: string;
  pubsub: string;
}

export type RestApi = keyof RestEndpoints;

export const DEFAULT_ENDPOINTS: RestEndpoints = {
  iam: 'https://iam.googleapis.com',
  cloudresourcemanager: 'https://cloudresourcemanager.googleapis.com',
  cloudfunctions: 'https://cloudfunctions.googleapis.com',
  run: 'https://run.googleapis.com',
  storage: 'https://storage.googleapis.com',
  pubsub: 'https://pubsub.googleapis.com',
};

/**
 * What is used of google-auth-library: `GoogleAuth` and every `AuthClient` (an `OAuth2Client`
 * with a fixed token in tests) have this `request`.
 */
export interface AuthorizedRequester {
  request<T>(options: { url: string; method: string; data?: unknown; params?: Record<string, string | number>; headers?: Record<string, string>; retry?: boolean }): Promise<{ data: T }>;
}

export interface GoogleRestOptions {
  auth: AuthorizedRequester;
  endpoints?: Partial<RestEndpoints>;
  sleep?: (ms: number) => Promise<void>;
}

export interface RestCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the API's base URL, starting with `/`. */
  path: string;
  query?: Record<string, string | number>;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Authenticated JSON calls to Google REST APIs. Errors keep their HTTP status (see httpStatusOf). */
export class GoogleRest {
  private readonly auth: AuthorizedRequester;
  private readonly endpoints: RestEndpoints;
  private readonly sleep: ((ms: number) => Promise<void>) | undefined;

  constructor(options: GoogleRestOptions) {
    this.auth = options.auth;
    this.endpoints = { ...DEFAULT_ENDPOINTS, ...options.endpoints };
    this.sleep = options.sleep;
  }

  async call<T>(api: RestApi, call: RestCall): Promise<T> {
    const url = this.endpoints[api].replace(/\/+$/, '') + call.path;
    const describe = `${call.method} ${api}${call.path}`;
    const response = await withRetry(
      () =>
        this.auth.request<T>({
          url,
          method: call.method,
          retry: false,
          ...(call.query ? { params: call.query } : {}),
          ...(call.body !== undefined ? { data: call.body } : {}),
          ...(call.headers ? { headers: call.headers } : {}),
        }),
      { describe, ...(this.sleep ? { sleep: this.sleep } : {}) },
    );
    return response.data;
  }
}
