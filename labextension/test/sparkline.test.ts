import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { downsample, Point, polyline } from '../src/sparkline';

const ramp = (n: number): Point[] => Array.from({ length: n }, (_, i) => [i * 10, i / n] as Point);

test('a short series is kept whole', () => {
  const points = ramp(5);
  assert.deepEqual(downsample(points, 10), points);
});

test('a long series keeps first, last, and at most two points per bucket', () => {
  const out = downsample(ramp(10_000), 30);
  assert.ok(out.length <= 2 * 30 + 2, `${out.length} points`);
  assert.deepEqual(out[0], [0, 0]);
  assert.deepEqual(out[out.length - 1], [99_990, 0.9999]);
  for (let i = 1; i < out.length; i++) {
    assert.ok(out[i][0] > out[i - 1][0], 'steps stay in order');
  }
});

test('a spike and a dip survive thinning', () => {
  const points = ramp(5000);
  points[1234] = [12_340, 50];
  points[3210] = [32_100, -50];
  const out = downsample(points, 20);
  assert.ok(out.some(p => p[1] === 50), 'the spike');
  assert.ok(out.some(p => p[1] === -50), 'the dip');
});

test('non-finite points are dropped', () => {
  const out = downsample([[0, 1], [1, NaN], [2, Infinity], [3, 2]], 10);
  assert.deepEqual(out, [[0, 1], [3, 2]]);
});

test('polyline fits the box; flat and empty series', () => {
  const attr = polyline(ramp(1000), 120, 28, 2);
  const xy = attr.split(' ').map(p => p.split(',').map(Number));
  assert.ok(xy.length <= 2 * 60 + 2);
  for (const [x, y] of xy) {
    assert.ok(x >= 2 && x <= 118 && y >= 2 && y <= 26, `${x},${y} inside`);
  }
  assert.equal(xy[0][1], 26, 'the lowest return at the bottom');
  assert.equal(xy[xy.length - 1][1], 2, 'the highest at the top');
  assert.equal(polyline([], 120, 28), '');
  const flat = polyline([[0, 1], [10, 1]], 100, 20);
  assert.equal(flat, '1.0,10.0 99.0,10.0');
});
