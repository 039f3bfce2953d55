/**
 * Intl's own wall-clock fields of an instant, computed independently of shared/routing: the
 * oracle the routing tests compare the product's zone arithmetic with. One formatter per zone
 * (making one costs far more than asking it).
 */
export interface IntlWall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The wall clock of instant `ms` in `zone`, field by field from formatToParts. */
export function intlWall(ms: number, zone: string): IntlWall {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour!, minute: p.minute!, second: p.second! };
}
