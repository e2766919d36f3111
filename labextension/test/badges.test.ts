import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { backendLabel, canFork, canStop, formatReturn, formatSteps, stateBadge } from '../src/badges';

test('every run state has its badge', () => {
  for (const state of ['starting', 'running', 'stopping', 'stopped', 'finished', 'failed']) {
    const badge = stateBadge(state);
    assert.equal(badge.label, state);
    assert.equal(badge.className, `unity-nb-state-${state}`);
    assert.ok(badge.title.length > 10);
  }
});

test('a finished run that reached its target reads solved; others do not', () => {
  assert.equal(stateBadge('finished', true).label, 'solved');
  assert.equal(stateBadge('finished', false).label, 'finished');
  assert.equal(stateBadge('stopped', true).label, 'stopped');
});

test('an unknown state is shown as it is, never hidden', () => {
  assert.equal(stateBadge('exploded').label, 'exploded');
  assert.equal(stateBadge('exploded').className, 'unity-nb-state-unknown');
  assert.equal(stateBadge('').label, 'unknown');
});

test('only a starting or running run can be stopped', () => {
  assert.deepEqual(
    ['starting', 'running', 'stopping', 'stopped', 'finished', 'failed'].map(canStop),
    [true, true, false, false, false, false]
  );
});

test('an ended run of this machine or a Ray cluster can be forked, a SageMaker one not yet', () => {
  assert.deepEqual(
    ['starting', 'running', 'stopping', 'stopped', 'finished', 'failed'].map(s => canFork(s, 'local')),
    [false, false, false, true, true, false]
  );
  assert.equal(canFork('finished', 'cluster'), true);
  assert.equal(canFork('finished', 'sagemaker'), false);
});

test('figures read short', () => {
  assert.equal(formatSteps(950), '950');
  assert.equal(formatSteps(12_345, 50_000), '12.3k / 50k');
  assert.equal(formatSteps(4_500_000), '4.5M');
  assert.equal(formatReturn(null), '–');
  assert.equal(formatReturn(NaN), '–');
  assert.equal(formatReturn(0.93456), '0.935');
  assert.equal(formatReturn(-123.4), '-123');
  assert.equal(backendLabel('sagemaker'), 'SageMaker');
  assert.equal(backendLabel('cluster'), 'Ray cluster');
  assert.equal(backendLabel('local'), 'this machine');
});
