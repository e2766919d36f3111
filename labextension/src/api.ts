/**
 * Calls to the unity-nb server extension (/unity-nb/api/), with the server's auth and XSRF handling.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { Point } from './sparkline';

export interface IRunRow {
  id: string;
  state: string;
  active: boolean;
  backend: string;
  scene: string;
  algorithm: string;
  steps: number;
  step_budget: number;
  iterations: number;
  return_mean: number | null;
  episodes_window: number | null;
  target: number | null;
  target_reached: boolean | null;
  /** the last confirmation's mean return by play (absent from an older server) */
  confirmed?: { deterministic?: number; sampled?: number };
  error: string | null;
  updated: number | null;
  series: Point[];
  skipped_lines: number;
  /** the run a fork goes on from (absent from an older server) */
  parent?: string | null;
  /** each curriculum parameter's current lesson (absent from an older server) */
  lessons?: { [parameter: string]: { lesson: number; lessons: number; name: string } };
  /** the sweep this run is a trial of (absent from an older server) */
  sweep?: string | null;
}

/** A sweep with a trial on the page: the sidebar groups its trials' rows under it. */
export interface ISweepRow {
  id: string;
  state: string;
  /** its plan in words: trials, scene, spaces, scheduler */
  about: string;
  scheduler: string;
  /** the trials it will run in all */
  trials: number;
  /** its trials' run ids, in the order they started */
  runs: string[];
  /** of its trials on the page, the best by the sweep's metric */
  best: string | null;
  error: string | null;
}

export interface IRunPage {
  root: string;
  total: number;
  offset: number;
  limit: number;
  runs: IRunRow[];
  /** absent from an older server */
  sweeps?: ISweepRow[];
  server_ms: number;
}

export interface IJob {
  id: string;
  action: string;
  run: string;
  state: 'running' | 'done' | 'failed';
  output: string;
  error?: string;
  url?: string | null;
  file?: string;
  /** a fork's new run, once its command has made it */
  fork?: string | null;
}

export interface IEndpoint {
  port: number;
  url: string;
  pid: number;
  model: string;
  run: string | null;
}

export interface IEndpoints {
  local: IEndpoint[];
  sagemaker?: { name: string; url: string | null; status: string | null; run: string | null }[];
  sagemaker_note?: string | null;
}

const settings = ServerConnection.makeSettings();

/** The URL of an API path (for a <video src> as well as for requests). */
export function apiUrl(path: string, query: Record<string, string | undefined> = {}): string {
  const params = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v as string)}`)
    .join('&');
  const url = URLExt.join(settings.baseUrl, 'unity-nb', 'api', path);
  return params ? `${url}?${params}` : url;
}

/** Call the API; a 4xx/5xx raises an Error whose message is the server's own sentence. */
export async function requestAPI<T>(
  path: string,
  init: RequestInit = {},
  query: Record<string, string | undefined> = {}
): Promise<T> {
  const response = await ServerConnection.makeRequest(apiUrl(path, query), init, settings);
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text.slice(0, 200) };
  }
  if (!response.ok) {
    throw new Error((data && data.message) || `${response.status} ${response.statusText}`);
  }
  return data as T;
}

/** Follow a job the server started until it ends (polling once a second). */
export async function waitForJob(job: IJob, onTick?: (job: IJob) => void): Promise<IJob> {
  let current = job;
  while (current.state === 'running') {
    await new Promise(resolve => setTimeout(resolve, 1000));
    current = (await requestAPI<{ job: IJob }>(`jobs/${encodeURIComponent(current.id)}`)).job;
    onTick?.(current);
  }
  return current;
}

/** A path segment that is a run id (the server checks it again). */
export function runPath(id: string, ...rest: string[]): string {
  return ['runs', encodeURIComponent(id), ...rest].join('/');
}
