/**
 * Where IAM bindings live, and how a target is keyed and named in a plan. Shared by the desired
 * state and the IAM planner.
 */

/** Stands for the project number in service-agent members; plan.ts resolves it. */
export const PROJECT_NUMBER = '{projectNumber}';

/** An IAM condition (CEL), as policies carry it. */
export interface Condition {
  title: string;
  description?: string;
  expression: string;
}

/** Where a binding lives. `topicSubscriptions` and `function` are resolved at plan time. */
export type IamTarget =
  | { type: 'project'; project: string }
  | { type: 'bucket'; bucket: string }
  | { type: 'dataset'; dataset: string }
  | { type: 'topic'; topic: string }
  | { type: 'subscription'; subscription: string }
  /** Every subscription attached to the topic (Eventarc creates them at deploy). */
  | { type: 'topicSubscriptions'; topic: string }
  /** The Cloud Run service behind a 2nd-gen function (exists after deploy). */
  | { type: 'function'; function: string; region: string }
  /** A Cloud Run service by full name (`projects/P/locations/R/services/S`). */
  | { type: 'runService'; service: string };

export function targetKey(target: IamTarget): string {
  switch (target.type) {
    case 'project':
      return `project:${target.project}`;
    case 'bucket':
      return `bucket:${target.bucket}`;
    case 'dataset':
      return `dataset:${target.dataset}`;
    case 'topic':
      return `topic:${target.topic}`;
    case 'subscription':
      return `subscription:${target.subscription}`;
    case 'topicSubscriptions':
      return `topicSubscriptions:${target.topic}`;
    case 'function':
      return `function:${target.region}/${target.function}`;
    case 'runService':
      return `runService:${target.service}`;
  }
}

/** How a target reads in a plan line: `bucket lake-seoul`, `function tidemark-loader (asia-northeast3)`. */
export function describeTarget(target: IamTarget): string {
  switch (target.type) {
    case 'project':
      return `project ${target.project}`;
    case 'bucket':
      return `bucket ${target.bucket}`;
    case 'dataset':
      return `dataset ${target.dataset}`;
    case 'topic':
      return `topic ${target.topic}`;
    case 'subscription':
      return `subscription ${target.subscription}`;
    case 'topicSubscriptions':
      return `subscriptions of ${target.topic}`;
    case 'function':
      return `function ${target.function} (${target.region})`;
    case 'runService':
      return `service ${target.service.split('/').pop()}`;
  }
}
