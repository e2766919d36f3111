/**
 * unity-nb's JupyterLab extension: the "Unity RL" sidebar, its commands (palette), a
 * launcher card that copies the quickstart notebook, and settings (run folder, refresh).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { apiUrl, IJob, requestAPI, runPath, waitForJob } from './api';
import { UnitySidebar } from './sidebar';

const PLUGIN = 'unity-nb:plugin';
const CATEGORY = 'Unity RL';

const ICON = new LabIcon({
  name: 'unity-nb:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M12 2 3 7v10l9 5 9-5V7zm0 2.3 6.5 3.6L12 11.5 5.5 7.9zM5 9.6l6 3.3v6.6l-6-3.3zm8 9.9v-6.6l6-3.3v6.6z"/>' +
    '</g></svg>'
});

namespace CommandIDs {
  export const openSidebar = 'unity-nb:open-sidebar';
  export const refresh = 'unity-nb:refresh';
  export const quickstart = 'unity-nb:quickstart';
  export const stopRun = 'unity-nb:stop-run';
  export const openDashboard = 'unity-nb:open-dashboard';
  export const playVideo = 'unity-nb:play-video';
  export const exportRun = 'unity-nb:export-run';
  export const deployRun = 'unity-nb:deploy-run';
  export const forkRun = 'unity-nb:fork-run';
  export const stopEndpoint = 'unity-nb:stop-endpoint';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN,
  description: 'The Unity RL sidebar: training runs and endpoints of unity-nb',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ILauncher, ISettingRegistry, ILayoutRestorer],
  activate: async (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    settingRegistry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null
  ) => {
    const sidebar = new UnitySidebar({
      commands: app.commands,
      refreshInterval: 1000,
      runsDir: '',
      showSageMakerEndpoints: false
    });
    sidebar.title.icon = ICON;
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, 'unity-nb-sidebar');

    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(PLUGIN);
        const apply = () =>
          sidebar.configure({
            refreshInterval: settings.get('refreshInterval').composite as number,
            runsDir: settings.get('runsDir').composite as string,
            showSageMakerEndpoints: settings.get('showSageMakerEndpoints').composite as boolean
          });
        apply();
        settings.changed.connect(apply);
      } catch (err) {
        console.warn('unity-nb: could not load the sidebar settings', err);
      }
    }

    const runsQuery = () => ({ runs_dir: sidebar.runsDir || undefined });
    const fail = (what: string) => (err: Error) => {
      Notification.error(`${what}: ${err.message}`, { autoClose: 8000 });
    };
    const startJob = async (id: string, action: string): Promise<IJob> => {
      const { job } = await requestAPI<{ job: IJob }>(runPath(id, action), { method: 'POST' }, runsQuery());
      const note = Notification.emit(`${action} ${id}…`, 'in-progress', { autoClose: false });
      let done: IJob;
      try {
        done = await waitForJob(job);
      } finally {
        Notification.dismiss(note);
      }
      if (done.state === 'failed') {
        throw new Error(done.error || 'failed (see the run folder logs/)');
      }
      return done;
    };

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Unity RL: Show Training Runs',
      caption: 'Open the Unity RL sidebar',
      icon: ICON,
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Unity RL: Refresh Runs',
      execute: () => sidebar.refresh()
    });
    app.commands.addCommand(CommandIDs.stopRun, {
      label: args => `Stop run ${args.id ?? ''}`,
      execute: async args => {
        const id = String(args.id);
        try {
          await requestAPI(runPath(id, 'stop'), { method: 'POST' }, runsQuery());
          Notification.info(`Run ${id}: stopping (it saves a checkpoint first)`, { autoClose: 4000 });
          await sidebar.refresh();
        } catch (err) {
          fail(`Cannot stop ${id}`)(err as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.openDashboard, {
      label: args => `Open the dashboard of ${args.id ?? 'a run'}`,
      execute: async args => {
        const id = String(args.id);
        // a kernel works in its notebook's folder: another run folder is named by its absolute path
        const dir = sidebar.runsDir && sidebar.root ? ` --runs-dir '${sidebar.root.replace(/'/g, '')}'` : '';
        const code = `%load_ext unity_nb\n%unity_dashboard ${id}${dir}`;
        let panel: NotebookPanel | null = notebooks.currentWidget;
        if (!panel || !panel.isVisible) {
          panel = (await app.commands.execute('notebook:create-new', { kernelName: 'python3' })) as NotebookPanel;
          await panel.context.ready;
        }
        await panel.sessionContext.ready;
        app.shell.activateById(panel.id);
        const notebook = panel.content;
        const active = notebook.activeCell;
        if (!(active && active.model.type === 'code' && active.model.sharedModel.getSource().trim() === '')) {
          NotebookActions.insertBelow(notebook);
        }
        const cell = notebook.activeCell!;
        cell.model.sharedModel.setSource(code);
        await NotebookActions.run(notebook, panel.sessionContext);
      }
    });
    app.commands.addCommand(CommandIDs.playVideo, {
      label: args => `Play a video of ${args.id ?? 'a run'}`,
      execute: async args => {
        const id = String(args.id);
        try {
          const job = await startJob(id, 'video');
          const video = document.createElement('video');
          video.className = 'unity-nb-video';
          video.controls = true;
          video.autoplay = true;
          video.loop = true;
          video.muted = true;
          video.src = apiUrl(`files/${encodeURIComponent(id)}/${job.file}`, runsQuery());
          const content = new Widget({ node: document.createElement('div') });
          content.addClass('unity-nb-video-tab');
          content.node.append(video);
          const widget = new MainAreaWidget({ content });
          widget.id = `unity-nb-video-${id}`;
          widget.title.label = `${id} video`;
          widget.title.icon = ICON;
          widget.title.closable = true;
          app.shell.add(widget, 'main');
          app.shell.activateById(widget.id);
        } catch (err) {
          fail(`No video of ${id}`)(err as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.exportRun, {
      label: args => `Export ${args.id ?? 'a run'} for Unity (ONNX)`,
      execute: async args => {
        const id = String(args.id);
        try {
          await startJob(id, 'export');
          const { files } = await requestAPI<{ files: { path: string; url: string }[] }>(
            runPath(id, 'artifacts'),
            {},
            runsQuery()
          );
          const models = files.filter(f => f.path.startsWith('export/'));
          Notification.success(`Exported ${id}: ${models.map(f => f.path).join(', ')}`, {
            autoClose: false,
            actions: models.map(f => ({ label: `Download ${f.path.split('/').pop()}`, callback: () => window.open(f.url) }))
          });
        } catch (err) {
          fail(`Cannot export ${id}`)(err as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.deployRun, {
      label: args => `Deploy ${args.id ?? 'a run'} on a local endpoint`,
      execute: async args => {
        const id = String(args.id);
        try {
          const job = await startJob(id, 'deploy');
          Notification.success(`${id} is served at ${job.url ?? '(see the endpoints list)'}`, { autoClose: 8000 });
          await sidebar.refresh();
        } catch (err) {
          fail(`Cannot deploy ${id}`)(err as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.forkRun, {
      label: args => `Fork ${args.id ?? 'a run'} with other settings`,
      execute: async args => {
        const id = String(args.id);
        const answer = await InputDialog.getText({
          title: `Fork ${id}`,
          label: "A new run from this run's latest checkpoint, with these settings changed (flags as %unity_fork takes them):",
          placeholder: '--lr 1e-4 --steps 60000'
        });
        if (!answer.button.accept) {
          return;
        }
        try {
          let { job } = await requestAPI<{ job: IJob }>(
            runPath(id, 'fork'),
            { method: 'POST', body: JSON.stringify({ settings: answer.value ?? '' }) },
            runsQuery()
          );
          // the command makes the new run, then watches it train: report once the run exists
          while (job.state === 'running' && !job.fork) {
            await new Promise(resolve => setTimeout(resolve, 1000));
            job = (await requestAPI<{ job: IJob }>(`jobs/${encodeURIComponent(job.id)}`)).job;
          }
          if (!job.fork) {
            throw new Error(job.error || 'the fork did not start (see the run folder logs/)');
          }
          Notification.success(`Fork ${job.fork} of ${id} is training`, { autoClose: 6000 });
          await sidebar.refresh();
        } catch (err) {
          fail(`Cannot fork ${id}`)(err as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.stopEndpoint, {
      label: args => `Stop the endpoint on port ${args.port ?? ''}`,
      execute: async args => {
        try {
          await requestAPI(`endpoints/${encodeURIComponent(String(args.port))}`, { method: 'DELETE' });
          await sidebar.refresh();
        } catch (err) {
          fail('Cannot stop the endpoint')(err as Error);
        }
      }
    });
    app.commands.addCommand(CommandIDs.quickstart, {
      label: args => (args.isLauncher ? 'Unity RL quickstart' : 'Unity RL: New Quickstart Notebook'),
      caption: 'Copy the unity-nb quickstart notebook into this folder and open it',
      icon: ICON,
      execute: async () => {
        try {
          const content = await requestAPI<object>('quickstart');
          const contents = app.serviceManager.contents;
          let path = 'unity-rl-quickstart.ipynb';
          for (let i = 1; i < 1000; i++) {
            try {
              await contents.get(path, { content: false });
              path = `unity-rl-quickstart-${i}.ipynb`;
            } catch {
              break; // free
            }
          }
          await contents.save(path, { type: 'notebook', format: 'json', content });
          await app.commands.execute('docmanager:open', { path });
        } catch (err) {
          fail('Cannot copy the quickstart notebook')(err as Error);
        }
      }
    });

    for (const command of [CommandIDs.openSidebar, CommandIDs.refresh, CommandIDs.quickstart]) {
      palette?.addItem({ command, category: CATEGORY });
    }
    launcher?.add({ command: CommandIDs.quickstart, category: 'Notebook', rank: 10, args: { isLauncher: true } });
  }
};

export default plugin;
