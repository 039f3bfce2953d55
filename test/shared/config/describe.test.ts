/**
 * `tidemark config check` text: per table the source, zone rule, partitioning, target, budget and
 * a worked example whose partition shows the zone shift.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRoutes } from '../../../shared/config/describe.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { createRouter } from '../../../shared/routing/router.ts';

const YAML = String.raw`
project: my-project
location: US
lake: { bucket: lake-seoul }
tables:
  - name: events
    description: clickstream
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz", timeZone: Asia/Seoul }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
    cadence: HOUR
  - name: visits
    source: { pattern: "visits/{yyyy}{mm}{dd}/*.parquet", timeZone: Asia/Seoul }
    format: PARQUET
    autodetect: true
    target: { dataset: lake_us, table: visits }
    partitioning: { type: DAY, field: visit_date, fieldType: DATE }
    jobBudget: 50
    jobBurst: 5
  - name: exports
    source: { bucket: other-lake, regex: "^exports/(?<yyyy>\\d{4})(?<mm>\\d{2})(?<dd>\\d{2})/" }
    format: AVRO
    autodetect: true
    target: { dataset: lake_us, table: exports }
    partitioning: { type: DAY }
`;

describe('describeRoutes', () => {
  const config = parseConfig(YAML, '/cfg/tidemark.config.yaml');
  const text = describeRoutes(config, createRouter(config), Date.UTC(2026, 10, 24, 20)); // 2026-11-25 05:00 in Seoul
  const expected: [string, RegExp][] = [
    ['file', /^config \/cfg\/tidemark\.config\.yaml$/m],
    ['state', /state +gs:\/\/my-project-tidemark-state\/_tidemark\//],
    ['audit', /audit +"15 \* \* \* \*" \(Etc\/UTC\), lookback 2d, settle 1h/],
    ['table with description', /^events - clickstream$/m],
    [
      'source',
      /source +gs:\/\/lake-seoul\/events\/dt=\{yyyy\}-\{mm\}-\{dd\}\/hr=\{hh\}\/\*\.json\.gz \[NEWLINE_DELIMITED_JSON\]/,
    ],
    ['zone rule', /zone +Asia\/Seoul: path times are local; local hour -> UTC hour partition/],
    ['partitioning', /partitions +HOUR on ingestion time/],
    ['target', /target +my-project:lake_us\.events\$YYYYMMDDHH/],
    ['budget', /jobs +300 per UTC day, burst 20, staging above 10000 URIs, data expected every hour/],
    [
      'example with the zone shift',
      /example +events\/dt=2026-11-25\/hr=00\/part-00000\.json\.gz -> lake_us\.events\$2026112415/,
    ],
    ['DATE column rule', /zone +Asia\/Seoul: the local date in the path is the partition \(no zone shift\)/],
    ['DATE column example', /example +visits\/20261125\/part-00000\.parquet -> lake_us\.visits\$20261125/],
    ['budget override', /jobs +50 per UTC day, burst 5/],
    ['regex', /source +gs:\/\/other-lake\/\(regex\) \^exports\//],
    ['regex example', /example +\(none for a regex; listing prefix "exports\/"\)/],
  ];
  for (const [name, re] of expected) it(name, () => assert.match(text, re));
});
