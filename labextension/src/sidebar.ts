/**
 * The "Unity RL" sidebar: the run store's runs (state, backend, steps, return, a live
 * sparkline, actions) and the running endpoints. It reads the server extension's API every
 * `refreshInterval` ms while visible; the actions are the plugin's commands.
 */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { IEndpoints, IRunPage, IRunRow, ISweepRow, requestAPI } from './api';
import { backendLabel, canFork, canStop, formatReturn, formatSteps, stateBadge } from './badges';
import { polyline } from './sparkline';

const SPARK_W = 120;
const SPARK_H = 28;
const SVG = 'http://www.w3.org/2000/svg';

export interface ISidebarOptions {
  commands: CommandRegistry;
  refreshInterval: number;
  runsDir: string;
  showSageMakerEndpoints: boolean;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

export class UnitySidebar extends Widget {
  constructor(private options: ISidebarOptions) {
    super();
    this.id = 'unity-nb-sidebar';
    this.addClass('unity-nb-sidebar');
    this.title.caption = 'Unity RL: training runs and endpoints';
    const header = el('div', 'unity-nb-sidebar-header');
    header.append(el('h2', '', 'Unity RL'));
    const refresh = el('button', 'jp-Button unity-nb-refresh', '⟳');
    refresh.title = 'Refresh now';
    refresh.onclick = () => void this.refresh();
    header.append(refresh);
    this._summary = el('div', 'unity-nb-summary', 'loading…');
    this._list = el('ul', 'unity-nb-runs');
    this._more = el('button', 'jp-Button unity-nb-more', 'Show more runs');
    this._more.onclick = () => {
      this._limit += 50;
      void this.refresh();
    };
    const endpointsHeader = el('h3', '', 'Endpoints');
    this._endpoints = el('ul', 'unity-nb-endpoints');
    this.node.append(header, this._summary, this._list, this._more, endpointsHeader, this._endpoints);
  }

  /** New settings from the settings editor: applied at the next refresh. */
  configure(options: Partial<ISidebarOptions>): void {
    this.options = { ...this.options, ...options };
    this._restartTimer();
    void this.refresh();
  }

  get runsDir(): string {
    return this.options.runsDir;
  }

  /** The absolute folder of the runs shown (as the server resolved it), once read. */
  get root(): string {
    return this._root;
  }

  /** The latest list of runs (for commands that act on a run). */
  run(id: string): IRunRow | undefined {
    return this._rows.get(id)?.data;
  }

  async refresh(): Promise<void> {
    if (this._busy) {
      return;
    }
    this._busy = true;
    try {
      const page = await requestAPI<IRunPage>('runs', {}, {
        limit: `${this._limit}`,
        points: '200',
        runs_dir: this.options.runsDir || undefined
      });
      this._renderRuns(page);
      const endpoints = await requestAPI<IEndpoints>('endpoints', {}, {
        sagemaker: this.options.showSageMakerEndpoints && this._sagemakerDue() ? '1' : undefined
      });
      this._renderEndpoints(endpoints);
      this.node.dataset.error = '';
    } catch (err) {
      this._summary.textContent = `Cannot read the runs: ${(err as Error).message}`;
      this.node.dataset.error = (err as Error).message;
    } finally {
      this._busy = false;
    }
  }

  protected onAfterShow(): void {
    this._restartTimer();
    void this.refresh();
  }

  protected onAfterHide(): void {
    this._stopTimer();
  }

  dispose(): void {
    this._stopTimer();
    super.dispose();
  }

  private _restartTimer(): void {
    this._stopTimer();
    if (this.isVisible || !this.isAttached) {
      this._timer = window.setInterval(() => void this.refresh(), Math.max(250, this.options.refreshInterval));
    }
  }

  private _stopTimer(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _sagemakerDue(): boolean {
    const now = Date.now();
    if (now - this._sagemakerAsked < 60_000) {
      return false;
    }
    this._sagemakerAsked = now;
    return true;
  }

  private _renderRuns(page: IRunPage): void {
    this._root = page.root;
    const running = page.runs.filter(r => r.active).length;
    this._summary.textContent =
      page.total === 0
        ? `No runs yet in ${page.root}. Start one with %unity_train Basic (or the quickstart in the launcher).`
        : `${page.total} run${page.total === 1 ? '' : 's'}, ${running} training · ${page.root}`;
    this._summary.title = page.root;
    this._more.style.display = page.total > page.runs.length ? '' : 'none';
    const sweeps = new Map<string, ISweepRow>((page.sweeps ?? []).map(s => [s.id, s]));
    const seen = new Set<string>();
    const placed = new Map<string, number>(); // a sweep shown so far -> how many of its trials are in it
    let position = 0; // the next place in the list's top level
    const placeTop = (node: HTMLElement) => {
      if (this._list.children[position] !== node) {
        this._list.insertBefore(node, this._list.children[position] ?? null);
      }
      position += 1;
    };
    for (const data of page.runs) {
      seen.add(data.id);
      let row = this._rows.get(data.id);
      if (!row) {
        row = new RunRow(data.id, this.options.commands);
        this._rows.set(data.id, row);
      }
      row.update(data);
      const sweep = data.sweep ? sweeps.get(data.sweep) : undefined;
      if (!sweep) {
        placeTop(row.node);
        continue;
      }
      // a sweep's trials go under it, the sweep where its newest trial would be
      let group = this._sweeps.get(sweep.id);
      if (!group) {
        group = new SweepGroup(sweep.id);
        this._sweeps.set(sweep.id, group);
      }
      if (!placed.has(sweep.id)) {
        group.update(sweep);
        placeTop(group.node);
        placed.set(sweep.id, 0);
      }
      const inside = placed.get(sweep.id)!;
      if (group.list.children[inside] !== row.node) {
        group.list.insertBefore(row.node, group.list.children[inside] ?? null);
      }
      placed.set(sweep.id, inside + 1);
      row.node.classList.toggle('unity-nb-best', sweep.best === data.id);
      row.node.dataset.best = sweep.best === data.id ? 'true' : 'false';
    }
    for (const [id, row] of this._rows) {
      if (!seen.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
    for (const [id, group] of this._sweeps) {
      if (!placed.has(id)) {
        group.node.remove();
        this._sweeps.delete(id);
      }
    }
  }

  private _renderEndpoints(data: IEndpoints): void {
    const items: HTMLElement[] = [];
    for (const e of data.local) {
      const li = el('li', 'unity-nb-endpoint');
      li.dataset.port = `${e.port}`;
      const top = el('div', 'unity-nb-endpoint-top');
      const link = el('a', '', e.url);
      link.href = e.url + '/';
      link.target = '_blank';
      link.title = 'what the endpoint expects and returns (GET /)';
      const stop = el('button', 'jp-Button unity-nb-stop-endpoint', 'Stop');
      stop.title = 'stop serving';
      stop.onclick = () => void this.options.commands.execute('unity-nb:stop-endpoint', { port: e.port });
      top.append(link, stop);
      li.append(top, el('div', 'unity-nb-muted unity-nb-endpoint-run', e.run ?? e.model));
      items.push(li);
    }
    if (data.sagemaker !== undefined) {
      // asked of AWS once a minute at most: the last answer stands in between
      this._sagemaker = data.sagemaker;
      this._sagemakerNote = data.sagemaker_note ?? '';
    }
    for (const e of this._sagemaker) {
      items.push(el('li', 'unity-nb-endpoint', `SageMaker ${e.name} (${e.status ?? '?'})`));
    }
    if (items.length === 0) {
      items.push(el('li', 'unity-nb-muted', 'No endpoint is running. Deploy a run to serve its policy.'));
    }
    if (this._sagemakerNote && this.options.showSageMakerEndpoints) {
      items.push(el('li', 'unity-nb-muted', this._sagemakerNote));
    }
    this._endpoints.replaceChildren(...items);
  }

  private _list: HTMLUListElement;
  private _summary: HTMLDivElement;
  private _more: HTMLButtonElement;
  private _endpoints: HTMLUListElement;
  private _rows = new Map<string, RunRow>();
  private _sweeps = new Map<string, SweepGroup>();
  private _timer: number | null = null;
  private _busy = false;
  private _limit = 50;
  private _sagemakerAsked = 0;
  private _sagemaker: NonNullable<IEndpoints['sagemaker']> = [];
  private _sagemakerNote = '';
  private _root = '';
}

/** A sweep: its state, its plan in words, how many trials ran and the best, then its trials' rows (foldable). */
class SweepGroup {
  constructor(readonly id: string) {
    this.node = el('li', 'unity-nb-sweep');
    this.node.dataset.id = id;
    const top = el('div', 'unity-nb-run-top');
    this._fold = el('button', 'jp-Button unity-nb-fold', '▾');
    this._fold.title = "show or hide the sweep's trials";
    this._fold.onclick = () => {
      const folded = this.node.dataset.folded !== 'true';
      this.node.dataset.folded = folded ? 'true' : 'false';
      this._fold.textContent = folded ? '▸' : '▾';
      this.list.style.display = folded ? 'none' : '';
    };
    this._badge = el('span', 'unity-nb-badge');
    const name = el('span', 'unity-nb-run-id', id);
    name.title = id;
    top.append(this._fold, this._badge, name);
    this._about = el('div', 'unity-nb-muted unity-nb-sweep-about');
    this._count = el('div', 'unity-nb-sweep-count');
    this.list = el('ul', 'unity-nb-sweep-runs');
    this.node.append(top, this._about, this._count, this.list);
  }

  update(data: ISweepRow): void {
    const badge = stateBadge(data.state);
    this._badge.textContent = badge.label;
    this._badge.className = `unity-nb-badge ${badge.className}`;
    this._badge.title = data.error ? `${badge.title}: ${data.error}` : badge.title;
    this.node.dataset.state = data.state;
    this._about.textContent = data.about;
    const started = data.runs.length;
    this._count.textContent =
      `${started} of ${data.trials} trial${data.trials === 1 ? '' : 's'} started` +
      (data.best ? ` · best ${data.best}` : '');
    this.node.dataset.best = data.best ?? '';
  }

  readonly node: HTMLLIElement;
  readonly list: HTMLUListElement;
  private _fold: HTMLButtonElement;
  private _badge: HTMLSpanElement;
  private _about: HTMLDivElement;
  private _count: HTMLDivElement;
}

/** One run's row: updated in place, so buttons keep focus while the run trains. */
class RunRow {
  constructor(readonly id: string, private commands: CommandRegistry) {
    this.node = el('li', 'unity-nb-run');
    this.node.dataset.id = id;
    const top = el('div', 'unity-nb-run-top');
    this._badge = el('span', 'unity-nb-badge');
    this._name = el('span', 'unity-nb-run-id', id);
    this._name.title = id;
    top.append(this._badge, this._name);
    const middle = el('div', 'unity-nb-run-middle');
    this._spark = document.createElementNS(SVG, 'svg');
    this._spark.setAttribute('class', 'unity-nb-sparkline');
    this._spark.setAttribute('width', `${SPARK_W}`);
    this._spark.setAttribute('height', `${SPARK_H}`);
    this._line = document.createElementNS(SVG, 'polyline');
    this._spark.append(this._line);
    this._figures = el('div', 'unity-nb-figures');
    middle.append(this._spark, this._figures);
    this._actions = el('div', 'unity-nb-actions');
    const button = (label: string, command: string, title: string) => {
      const b = el('button', `jp-Button unity-nb-action unity-nb-${label.toLowerCase()}`, label);
      b.title = title;
      b.onclick = () => void this.commands.execute(command, { id: this.id });
      return b;
    };
    this._stop = button('Stop', 'unity-nb:stop-run', 'checkpoint, then stop');
    this._actions.append(
      this._stop,
      button('Dashboard', 'unity-nb:open-dashboard', '%unity_dashboard in the current notebook (or a new one)'),
      button('Video', 'unity-nb:play-video', "a rollout video of the latest checkpoint's policy"),
      button('Export', 'unity-nb:export-run', 'ONNX files Unity loads (RUN/export/)'),
      button('Deploy', 'unity-nb:deploy-run', 'serve the policy on a local endpoint'),
      (this._fork = button('Fork', 'unity-nb:fork-run', "a new run from this run's checkpoint, with settings you type"))
    );
    this.node.append(top, middle, this._actions);
  }

  update(data: IRunRow): void {
    this.data = data;
    const badge = stateBadge(data.state, data.target_reached);
    this._badge.textContent = badge.label;
    this._badge.className = `unity-nb-badge ${badge.className}`;
    this._badge.title = data.error ? `${badge.title}: ${data.error}` : badge.title;
    this.node.dataset.state = data.state;
    this._line.setAttribute('points', polyline(data.series, SPARK_W, SPARK_H, 2));
    this._spark.dataset.points = `${data.series.length}`;
    const lines = [
      `${data.scene} · ${data.algorithm.split(':').pop()} · ${backendLabel(data.backend)}`, // your own: its class
      `steps ${formatSteps(data.steps, data.step_budget)}`,
      `return ${formatReturn(data.return_mean)}` + (data.episodes_window ? ` (last ${data.episodes_window} ep.)` : '')
    ];
    const confirmed = Object.entries(data.confirmed ?? {});
    if (confirmed.length) {
      lines.push('confirmed ' + confirmed.map(([play, mean]) => `${play} ${formatReturn(mean)}`).join(', '));
    }
    if (data.parent) {
      lines.push(`fork of ${data.parent}`);
    }
    const lessons = Object.entries(data.lessons ?? {});
    if (lessons.length) {
      lines.push('lesson ' + lessons.map(([p, l]) => `${p}: ${l.name} (${l.lesson + 1}/${l.lessons})`).join(', '));
    }
    if (data.skipped_lines) {
      lines.push(`${data.skipped_lines} unreadable metrics line(s) skipped`);
    }
    this._figures.replaceChildren(...lines.map(t => el('div', '', t)));
    this._figures.dataset.steps = `${data.steps}`;
    this._stop.disabled = !canStop(data.state);
    this._fork.disabled = !canFork(data.state, data.backend);
  }

  readonly node: HTMLLIElement;
  data: IRunRow | undefined;
  private _badge: HTMLSpanElement;
  private _name: HTMLSpanElement;
  private _spark: SVGSVGElement;
  private _line: SVGPolylineElement;
  private _figures: HTMLDivElement;
  private _actions: HTMLDivElement;
  private _stop: HTMLButtonElement;
  private _fork: HTMLButtonElement;
}

