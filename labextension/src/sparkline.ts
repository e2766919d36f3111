/**
 * The sidebar's reward sparkline: fit a run's (steps, mean return) series to a few pixels.
 * Pure functions, unit-tested in test/sparkline.test.ts.
 */

/** One point of a reward curve: [agent steps, mean return]. */
export type Point = [number, number];

/**
 * At most `buckets` * 2 points that keep the curve's shape: the series is cut into `buckets`
 * runs of equal length and each keeps its lowest and highest point (in step order), so a spike
 * or a dip is never thinned away. The first and last points are always kept.
 */
export function downsample(points: Point[], buckets: number): Point[] {
  const clean = points.filter(p => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  const n = Math.max(1, Math.floor(buckets));
  if (clean.length <= 2 * n) {
    return clean.slice();
  }
  const out: Point[] = [clean[0]];
  const inner = clean.slice(1, -1);
  const size = inner.length / n;
  for (let b = 0; b < n; b++) {
    const chunk = inner.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (chunk.length === 0) {
      continue;
    }
    let lo = 0;
    let hi = 0;
    chunk.forEach((p, i) => {
      if (p[1] < chunk[lo][1]) {
        lo = i;
      }
      if (p[1] > chunk[hi][1]) {
        hi = i;
      }
    });
    for (const i of lo === hi ? [lo] : lo < hi ? [lo, hi] : [hi, lo]) {
      out.push(chunk[i]);
    }
  }
  out.push(clean[clean.length - 1]);
  return out;
}

/**
 * The `points` attribute of an SVG polyline drawing `series` in a width x height box
 * (y grows downwards; a flat series is drawn in the middle). Empty for no points.
 */
export function polyline(series: Point[], width: number, height: number, pad = 1): string {
  const points = downsample(series, Math.max(1, Math.floor(width / 2)));
  if (points.length === 0) {
    return '';
  }
  const xs = points.map(p => p[0]);
  const ys = points.map(p => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => (x1 === x0 ? width / 2 : pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad));
  const sy = (y: number) => (y1 === y0 ? height / 2 : pad + (1 - (y - y0) / (y1 - y0)) * (height - 2 * pad));
  return points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
}
