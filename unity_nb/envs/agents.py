"""What the RLlib multi-agent wrappers share: agent ids, the env runner's seed, sending actions.

``multi_agent.UnityMultiAgentEnv`` and ``behaviors_env.UnityBehaviorsEnv`` name
agents differently, but both ids start ``"<behavior>#"``, both give Unity each
behavior's actions the same way, and every Unity process RLlib opens gets the
seed of its env runner. No Ray here: evaluation and the kernel side may use it.
"""

from __future__ import annotations

from typing import Callable, Sequence

from . import spaces


def behavior_of(agent_id: str) -> str:
    """The behavior in a multi-agent id (``'3DBall#17'``, ``'BasicLeft#3.0'`` -> the part before '#')."""
    return agent_id.rsplit("#", 1)[0]


def runner_seed(env_config, seed: int) -> int:
    """``seed`` offset by RLlib's env-runner and vector indices, so Unity processes differ.

    ``env_config`` is RLlib's EnvContext (a dict carrying ``worker_index`` and
    ``vector_index``); a plain dict or None leaves the seed as it is.
    """
    worker = int(getattr(env_config, "worker_index", 0) or 0)
    vector = int(getattr(env_config, "vector_index", 0) or 0)
    return seed + 1000 * worker + vector


def send_actions(env, action_dict: dict, agent_keys: Callable[[str, Sequence], list[str]], *,
                 allow_idle_behaviors: bool = False) -> None:
    """Give Unity, for each behavior, the action of every agent that asked for a decision.

    ``env``: a wrapper with ``source`` (an EnvSource), ``specs`` (behavior -> BehaviorSpec)
    and ``get_action_space(agent_key)``. ``agent_keys(behavior, unity_agent_ids)``: the
    wrapper's ids of those agents, in the same order. An agent that asked and has no
    action in ``action_dict`` is an error, unless ``allow_idle_behaviors`` and no agent of
    its behavior has one (that behavior then gets Unity's empty actions).
    """
    for b, spec in env.specs.items():
        decision, _ = env.source.call("get_steps", b)
        if not len(decision):
            continue
        keys = agent_keys(b, decision.agent_id)
        missing = [k for k in keys if k not in action_dict]
        if missing:
            if allow_idle_behaviors and len(missing) == len(keys):
                continue  # nobody of this behavior acted: Unity gets empty actions
            raise ValueError(f"no action for agents {missing[:5]} of behavior {b!r}; every agent that asked needs one")
        space = env.get_action_space(keys[0])
        batch = spaces.to_action_tuple(space, spec, [action_dict[k] for k in keys], f"{b} agents")
        env.source.call("set_actions", b, batch)


__all__ = ["behavior_of", "runner_seed", "send_actions"]
