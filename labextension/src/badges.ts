/**
 * How a run's state, backend and figures read in the sidebar. Pure functions, unit-tested
 * in test/badges.test.ts.
 */

export interface IBadge {
  /** What the badge says. */
  label: string;
  /** CSS class (style/base.css colours it). */
  className: string;
  /** The tooltip: what the state means. */
  title: string;
}

const STATES: Record<string, [string, string]> = {
  starting: ['starting', 'the training process is starting (Ray, the algorithm)'],
  running: ['running', 'training: iterations are being written'],
  stopping: ['stopping', 'a stop was asked for: writing the final checkpoint'],
  stopped: ['stopped', 'stopped on request, after its final checkpoint'],
  finished: ['finished', 'ended by itself: step budget spent, or target reached and confirmed'],
  failed: ['failed', 'ended with an error']
};

/** The badge of a run state; `targetReached` marks a finished run that reached its target. */
export function stateBadge(state: string, targetReached?: boolean | null): IBadge {
  const known = STATES[state];
  if (!known) {
    return { label: state || 'unknown', className: 'unity-nb-state-unknown', title: `unknown state ${state}` };
  }
  const solved = state === 'finished' && targetReached === true;
  return {
    label: solved ? 'solved' : known[0],
    className: `unity-nb-state-${solved ? 'solved' : state}`,
    title: solved ? 'finished: the target return was reached and confirmed' : known[1]
  };
}

/** Whether a run in this state can be asked to stop. */
export function canStop(state: string): boolean {
  return state === 'starting' || state === 'running';
}

/** Whether a run can be forked from the sidebar: it has ended on this machine or a Ray cluster (the server
 * says whether it has a checkpoint). */
export function canFork(state: string, backend: string): boolean {
  return ['finished', 'stopped'].includes(state) && backend !== 'sagemaker';
}

/** Where a run trains, in words. */
export function backendLabel(backend: string): string {
  return ({ local: 'this machine', cluster: 'Ray cluster', sagemaker: 'SageMaker' } as Record<string, string>)[
    backend
  ] ?? backend;
}

/** Agent steps, short: 950, 12.3k, 4.5M (of the budget when given: "12.3k / 50k"). */
export function formatSteps(steps: number, budget?: number | null): string {
  const short = (n: number): string => {
    if (!Number.isFinite(n)) {
      return '-';
    }
    if (Math.abs(n) >= 1e6) {
      return `${+(n / 1e6).toFixed(1)}M`;
    }
    if (Math.abs(n) >= 1e3) {
      return `${+(n / 1e3).toFixed(1)}k`;
    }
    return `${Math.round(n)}`;
  };
  return budget ? `${short(steps)} / ${short(budget)}` : short(steps);
}

/** A mean return with 3 significant digits, or a dash before the first episode ends. */
export function formatReturn(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return '–';
  }
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}
