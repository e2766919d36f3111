"""A run as a person uses it: its folder (``train/store.py``) and what can be done with its trained policy.

    run = unity_nb.get_run(run_id)
    run.evaluate(); run.video(); run.export(); run.deploy()
    run.fork(lr=1e-4)      # a new run from its checkpoint with other settings

The run folder is kept below evaluation and deploy (``RunFolder``); the actions on a trained run
are added here, above the layers that do them (``evaluate/``, ``deploy/``), so those layers and the
backends never import what plays or serves a policy. Importing ``unity_nb`` makes the run
stores hand out this ``Run`` (``RunStore.opens``): ``unity_nb.train(...)``, ``get_run`` and
``runs`` all return one.
"""

from __future__ import annotations

from pathlib import Path

from .errors import BadValue, NotFound, NotPossible
from .train.schema import State
from .train.store import RunFolder, RunStore


class Run(RunFolder):
    """A run (live or finished): its settings, state and metrics, and its trained policy's actions."""

    def _checkpoint(self) -> Path:
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            raise NotPossible(f"run {self.id} has no checkpoint yet: wait for its first one or for the end")
        return checkpoint

    def evaluate(self, episodes: int = 100, mode: str = "inprocess", play: str = "both", **kwargs):
        """Play ``episodes`` episodes with the latest checkpoint's policy: greedily, and (``play="both"``,
        the default) again with sampled actions, in the result's ``.sampled`` (``play="deterministic"`` or
        ``"sampled"``: one way only).

        Takes the keyword arguments of :func:`unity_nb.evaluate.evaluate` (``seed``, ``params``
        to try other scene parameters, ...); the run's own are the defaults.
        """
        from .evaluate import evaluate

        checkpoint = self._checkpoint()
        config = self.config
        return evaluate(checkpoint, config.scene, episodes=episodes, **config.playback(mode=mode, play=play, **kwargs))

    def record_demo(self, path, episodes: int = 10, sampled: bool = False, **kwargs):
        """Play the latest checkpoint's policy (greedy; ``sampled=True`` draws) and write the first agent's play
        as a Unity demonstration (``.demo``, read by mlagents-learn's ``behavioral_cloning`` and GAIL). Returns the
        ``Demonstration`` read back. Takes :func:`unity_nb.evaluate.demos.record_demo`'s keywords (``seed``,
        ``behavior``, ...); the run's scene and parameters are the defaults."""
        from .evaluate.demos import record_demo
        from .evaluate.policy import load_policies

        config = self.config
        playback = config.playback(**kwargs)
        scene = playback.pop("scene", config.scene)
        return record_demo(load_policies(self._checkpoint()), scene, path, episodes=episodes, sampled=sampled,
                           **playback)

    def video(self, episodes: int | None = None, max_frames: int = 500, **kwargs):
        """A video (inline in a notebook) of the latest checkpoint's policy playing.

        episodes: whole episodes to show (default: enough for 4 s of video).
        Takes the keyword arguments of :func:`unity_nb.evaluate.record` (``fps``, ``fmt``, ``seed``, ``params`` ...).
        """
        from .evaluate import record

        checkpoint = self._checkpoint()
        config = self.config
        video = record(checkpoint, config.scene, episodes=episodes, max_frames=max_frames, **config.playback(**kwargs))
        video.name = self.id
        return video

    def episode(self, sampled: bool = False, **kwargs):
        """One episode of the latest checkpoint's policy kept whole (frames, observations, actions, rewards, and the
        policy's value and action distribution at each step): show it with ``unity_nb.notebook.Scrubber``. Takes
        :func:`unity_nb.evaluate.episode.replay`'s keywords (``seed``, ``max_steps``)."""
        from .evaluate.episode import replay

        config = self.config
        playback = config.playback(**kwargs)
        return replay(self._checkpoint(), playback.pop("scene", config.scene), sampled=sampled, **playback)

    def export(self, verify: int = 1000):
        """Export the latest checkpoint's policies as ONNX files Unity loads (``export/<behavior>.onnx``),
        each checked against Unity's model contract and against the trained policy on ``verify``
        real observations. Returns the ``Exported`` (its text is the contract table)."""
        from .deploy import export_run

        if self.state == State.STARTING:
            raise NotPossible(f"run {self.id} is still starting: export it once it has a checkpoint")
        return export_run(self, verify=verify)

    def deploy(self, port: int | None = None, behavior: str | None = None, host: str = "127.0.0.1",
               target: str = "local", **sagemaker):
        """Serve the exported model on an endpoint (exports first if needed); returns the endpoint.

        target: "local" (a process on this machine: port= default a free one; host= 127.0.0.1, this
        machine only, unless you ask for another address) or "sagemaker" (a SageMaker endpoint:
        instance_type= default serverless, serverless_memory=, role=, region=, bucket=, progress=).
        behavior: which one, for a run with one policy per behavior.
        """
        if target == "sagemaker":
            from .deploy.sagemaker import deploy

            return deploy(self, behavior=behavior, **sagemaker)
        if target != "local":
            raise BadValue(f"target must be 'local' or 'sagemaker', got {target!r}")
        if sagemaker:
            raise BadValue(f"{', '.join(sagemaker)}: SageMaker settings; add target='sagemaker'")
        from .deploy.endpoint import start

        return start(self.model_for(behavior), port=port, host=host, run_id=self.id)

    def fork(self, wait: bool = False, **changes) -> "Run":
        """A new run from this run's latest checkpoint with some settings changed, e.g. ``run.fork(lr=1e-4)``:
        it goes on from this run's steps, return window and curriculum (see :func:`unity_nb.train.fork`)."""
        from .train.forks import fork_run

        run = fork_run(self, **changes)
        return run.wait() if wait else run

    def model_for(self, behavior: str | None = None) -> Path:
        """The exported model to serve (exported first if there is none)."""
        exported = sorted(self.export_dir.glob("*.onnx"))
        if not exported:
            self.export()
            exported = sorted(self.export_dir.glob("*.onnx"))
        if behavior is not None:
            path = self.export_path(behavior)
            if not path.exists():
                raise NotFound(f"run {self.id} has no exported behavior {behavior!r}; it has "
                               f"{', '.join(p.stem for p in exported)}")
            return path
        if len(exported) > 1:
            raise BadValue(f"run {self.id} has one model per behavior ({', '.join(p.stem for p in exported)}): "
                           "say which to serve with behavior=")
        return exported[0]


RunStore.opens = Run
