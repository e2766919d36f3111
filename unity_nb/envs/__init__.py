"""Unity environments for training: built-in scenes, your Unity builds, or the Editor.

    import unity_nb.envs as ue
    env = ue.make("Basic")                 # gymnasium Env, via the Unity player stand-in
    env = ue.make("3DBall")                # 12 agents: a gymnasium VectorEnv, one sub-env per agent
    env = ue.make("builds/MyGame.x86_64")  # your Linux Unity build
    env = ue.make("editor")                # the Unity Editor: press Play after calling this
    ma = ue.make_multi_agent("3DBall")     # RLlib MultiAgentEnv: every agent, every behavior
    pz = ue.make_parallel("BasicDuo")      # PettingZoo ParallelEnv: agents named "BasicLeft#0", ...
    ue.player_file("3DBall")               # a launchable "Unity build" of a built-in scene
"""

from __future__ import annotations

from . import _protobuf_compat

_protobuf_compat.install()

from .errors import UnityBuildError, UnityConnectError, UnityNbError, UnityPlayerDied  # noqa: E402
from .scenes import SCENES, UnknownSceneError  # noqa: E402
from .builds import EDITOR, check_build, player_file  # noqa: E402


def make(
    scene_or_path: str = "Basic",
    *,
    mode: str = "player",
    seed: int = 0,
    num_areas: int = 1,
    params: dict[str, float] | None = None,
    behavior: str | None = None,
    render_mode: str | None = None,
    connect_timeout: float = 30.0,
    time_scale: float = 20.0,
    log_folder: str | None = None,
    port: int | None = None,
):
    """Open a Unity environment as a gymnasium environment.

    scene_or_path: a built-in scene (``"Basic"``, ``"3DBall"``, ``"GridWorld"``), the path of
        a Linux Unity build (its executable or folder), or ``"editor"`` (press Play in Unity).
    mode: ``"player"`` (default) runs built-in scenes in a separate process over the real
        ML-Agents protocol, as a Unity build runs; ``"inprocess"`` runs them here, faster,
        with identical trajectories for the same seed and actions.
    seed, num_areas: passed to Unity at start-up (``num_areas`` copies the training area).
    params: environment parameters, e.g. ``{"mass": 2.0}`` (sent over the side channel).
    behavior: which behavior to drive when the scene has several.
    render_mode: ``"rgb_array"`` to get frames from ``env.render()``.
    connect_timeout: seconds to wait for the Unity process to connect.
    log_folder: where the player log goes (default: a temporary folder).
    port: a fixed port (default: a free one; the Editor always uses 5004).

    Returns a ``gymnasium.Env`` when the behavior has one agent, else a
    ``gymnasium.vector.VectorEnv`` with one sub-environment per agent.
    """
    from .gym_env import UnityGymEnv, UnityVectorEnv, pick_behavior

    source = _source(scene_or_path, mode, seed, num_areas, params, render_mode, connect_timeout, time_scale, log_folder, port)
    try:
        source.call("reset")
        name = pick_behavior(source, behavior)
        agents = len(source.call("get_steps", name)[0])
        cls = UnityGymEnv if agents == 1 else UnityVectorEnv
        return cls(source, behavior=name, render_mode=render_mode, reset_done=True)
    except BaseException:
        source.close()
        raise


def make_multi_agent(scene_or_path: str = "Basic", *, episode_horizon: int = 1000, **kwargs):
    """Open a Unity environment as an RLlib ``MultiAgentEnv`` (all agents, all behaviors).

    Takes the keyword arguments of :func:`make` (except ``behavior`` and ``render_mode``)
    and ``episode_horizon``: exchanges per RLlib episode.
    """
    from .multi_agent import UnityMultiAgentEnv

    return UnityMultiAgentEnv({"scene": scene_or_path, "episode_horizon": episode_horizon, **kwargs})


def make_parallel(scene_or_path: str = "BasicDuo", *, max_cycles: int | None = None, mode: str = "player",
                  seed: int = 0, num_areas: int = 1, params: dict[str, float] | None = None,
                  render_mode: str | None = None, connect_timeout: float = 30.0, time_scale: float = 20.0,
                  log_folder: str | None = None, port: int | None = None):
    """Open a Unity environment as a PettingZoo ``ParallelEnv``: every agent of every behavior.

    Agents are named ``"<behavior>#<n>"`` (``"BasicLeft#0"``, ``"Striker?team=0#1"``) from those present after
    a reset, and keep their names whatever ids Unity gives them. An episode runs from ``reset()`` (a Unity reset)
    until every agent's Unity episode has ended, or ``max_cycles`` steps. ``infos`` carry each agent's
    ``group_id`` and ``group_reward``, and ``action_mask`` where actions are masked. For PettingZoo's AEC form:
    ``pettingzoo.utils.conversions.parallel_to_aec(env)``. Takes the other keyword arguments of :func:`make`.
    """
    from .pettingzoo_env import UnityParallelEnv

    source = _source(scene_or_path, mode, seed, num_areas, params, render_mode, connect_timeout, time_scale, log_folder, port)
    try:
        return UnityParallelEnv(source, max_cycles=max_cycles, render_mode=render_mode)
    except BaseException:
        source.close()
        raise


def _source(target, mode, seed, num_areas, params, render_mode, connect_timeout, time_scale, log_folder, port):
    from .source import EnvSource

    unity_kwargs = {"connect_timeout": connect_timeout, "time_scale": time_scale, "log_folder": log_folder, "port": port}
    return EnvSource(
        target, mode=mode, seed=seed, num_areas=num_areas, params=params,
        render=render_mode == "rgb_array", **unity_kwargs,
    )


def __getattr__(name: str):
    # UnityToGymWrapper (gym-unity's drop-in, unity_nb.envs.gym_unity) needs mlagents_envs, which
    # `import unity_nb.envs` does not load: it is imported on first use.
    if name == "UnityToGymWrapper":
        from .gym_unity import UnityToGymWrapper

        return UnityToGymWrapper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def scenes() -> dict[str, str]:
    """Built-in scenes and what each is about."""
    return {name: cls.description for name, cls in SCENES.items()}


__all__ = [
    "make", "make_multi_agent", "make_parallel", "player_file", "check_build", "scenes", "SCENES", "EDITOR", "UnityToGymWrapper",
    "UnityNbError", "UnityBuildError", "UnityConnectError", "UnityPlayerDied", "UnknownSceneError",
]
