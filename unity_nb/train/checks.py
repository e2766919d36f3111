"""The checks that tie training settings together, one small group each.

A single value is checked against its own field's rule (``settings.check``); what must agree with
other settings, the scene or the backend is checked here. Each check takes the ``TrainConfig`` and
``fail(key, message)``, which raises the ``ConfigError`` naming the setting; a few put a value in its
one form as they go (an algorithm's name in capitals, ``target_return: off``, imported classes).
"""

from __future__ import annotations

import os
import re

from ..envs.scenes import SCENES, agents_leave, find_scene
from . import env_parameters, self_play, user_code
from .errors import ConfigError
from .settings import (ALGORITHMS, BEHAVIORAL_CLONING, PER_BEHAVIOR, RANDOM_SEED, REWARD_SIGNALS, SAGEMAKER_SETTINGS,
                       TARGET_OFF, check_number, rules)

NAME = "a non-empty name without spaces around it"


def check_scene(config, fail) -> None:
    if not isinstance(config.scene, str) or not config.scene.strip():
        fail("scene", f"must be a built-in scene ({', '.join(SCENES)}) or a path to a Unity build, got {config.scene!r}")
    if config.scene_name is None and not os.path.exists(os.path.expanduser(config.scene)) and "/" not in config.scene:
        fail("scene", f"{config.scene!r} is neither a built-in scene ({', '.join(SCENES)}) nor an existing Unity build path")


def check_algorithm(config, fail, source: str) -> None:
    if isinstance(config.algorithm, type) or (isinstance(config.algorithm, str) and ":" in config.algorithm):
        config.algorithm = user_code.import_path(config.algorithm, "algorithm", source)  # your own AlgorithmConfig
    elif not isinstance(config.algorithm, str) or config.algorithm.upper() not in ALGORITHMS:
        fail("algorithm", f"must be one of {', '.join(ALGORITHMS)}, or your own AlgorithmConfig subclass by "
                          f"import path (my_algos:MyConfig), got {config.algorithm!r}")
    else:
        config.algorithm = config.algorithm.upper()


def check_used_by_algorithm(config, names=None) -> None:
    """A setting the algorithm never reads is refused when a run is made, not silently ignored (a stored run's
    settings are read as they are). ``names``: the settings the user gave (None: every one); of those, only a
    value other than the field's default and the scene's counts (a resolved config carries PPO's values)."""
    if config.custom_algorithm:
        return  # your own algorithm reads what it reads
    scene_defaults = config.defaults()
    for name, (f, rule) in rules(type(config)).items():
        value = getattr(config, name)
        if (names is not None and name not in names) or not rule.algorithms or config.algorithm in rule.algorithms \
                or value is None or value is False or value == f.default or value == scene_defaults.get(name):
            continue
        raise ConfigError(f"config: {name} is used by {', '.join(rule.algorithms)} only, and this run trains with "
                          f"{config.algorithm}, which never reads it: leave it out, or train with {rule.algorithms[0]}")


def normalize_target(config, fail) -> None:
    if config.target_return is False or (isinstance(config.target_return, str)
                                       and config.target_return.strip().lower() in ("off", "none", "false")):
        config.target_return = TARGET_OFF  # YAML reads a bare `off` as false
    if config.target_return != TARGET_OFF:
        if isinstance(config.target_return, str):
            try:
                config.target_return = float(config.target_return)
            except ValueError:
                fail("target_return", f"must be a number or 'off', got {config.target_return!r}")
        if config.target_return is not None:
            check_number("target_return", config.target_return, fail)


def check_seed(config, fail) -> None:
    if not isinstance(config.seed, int) or isinstance(config.seed, bool):
        fail("seed", f"must be a whole number (or -1 to draw one), got {config.seed!r}")
    if config.seed < RANDOM_SEED:
        fail("seed", f"must be >= 0, or -1 to draw one (the run records it), got {config.seed}")


def check_confirmation(config, fail) -> None:
    target = config.defaults().get("target_return") if config.target_return is None else config.target_return
    if config.confirm_episodes == 0 and target not in (None, TARGET_OFF):
        fail("confirm_episodes", "must be >= 1 when a target_return is set: a target counts as reached only "
             "once played episodes confirm it (or set target_return: off)")


def check_schedules(config, fail) -> None:
    if config.algorithm not in ("PPO", "APPO", "IMPALA"):
        for key in ("entropy_schedule", "clip_schedule"):
            if getattr(config, key) != "constant":
                fail(key, f"'{getattr(config, key)}' applies to PPO, APPO and IMPALA, not {config.algorithm}")
    if config.algorithm in ("APPO", "IMPALA") and config.clip_schedule != "constant":
        fail("clip_schedule", f"'{config.clip_schedule}' applies to PPO only")
    if config.algorithm == "SAC" and config.lr_schedule != "constant":
        fail("lr_schedule", "SAC takes a constant learning rate (as in mlagents-learn's SAC)")


def check_place(config, fail) -> None:
    """Where the run's scene runs and where it starts from."""
    if config.mode == "inprocess" and config.scene_name is None:
        fail("mode", f"'inprocess' runs built-in scenes only ({', '.join(SCENES)})")
    if config.init_path is not None:
        if not isinstance(config.init_path, str) or not config.init_path.strip():
            fail("init_path", f"must be the path of a run folder or checkpoint, got {config.init_path!r}")
        if not os.path.exists(os.path.expanduser(config.init_path)):
            fail("init_path", f"{config.init_path!r} does not exist; give a run folder (runs/<id>) or one of "
                 "its checkpoints/checkpoint_* folders")


def check_scene_fit(config, fail, source: str, params_key: str) -> None:
    """A built-in scene's parameters, behaviors, actions and cameras against the settings."""
    scene_cls = find_scene(config.scene)
    trained = [config.behavior] if config.behavior is not None else (
        [b.name for b in scene_cls.behavior_list()] if scene_cls is not None else None)
    config.env_params = env_parameters.check(config.env_params, f"{source}: {params_key}", scene_cls=scene_cls,
                                           behaviors=trained)
    if scene_cls is None:
        return
    names = [b.name for b in scene_cls.behavior_list()]
    if config.behavior is not None and config.behavior not in names:
        fail("behavior", f"{config.behavior!r}: the {scene_cls.name} scene has the behaviors {', '.join(map(repr, names))}")
    kind = "continuous" if scene_cls.behavior.continuous_size else "discrete"
    if not config.custom_algorithm and kind not in ALGORITHMS[config.algorithm]:
        fits = [a for a, kinds in ALGORITHMS.items() if kind in kinds]
        fail("algorithm", f"{config.algorithm} does not handle the {kind} actions of {scene_cls.name}; use one of {', '.join(fits)}")
    cameras = any(o.visual for b in scene_cls.behavior_list() for o in b.observations)
    if cameras and not config.model:  # the kit's camera networks (trainer/unity_module.py) train with PPO
        if config.algorithm != "PPO" and not config.custom_algorithm:
            fail("algorithm", f"{config.algorithm} cannot train {scene_cls.name}'s camera observations: the kit's "
                              "camera networks train with PPO (RLlib's default networks for it take one "
                              "vector only); use PPO, or give your own module with model=")
        if config.normalize:
            fail("normalize", f"true is not supported for {scene_cls.name}'s camera observations yet (RLlib's "
                              "filter would normalise the pixels too); set normalize false")


def check_batches(config, fail) -> None:
    """The batch, its minibatches and the trajectory pieces RLlib's PPO collects must fit together. A setting
    left unset counts with the value it will take (the scene's), so a run is never made with settings that do
    not fit; a minibatch matters only to an algorithm that takes minibatches."""
    defaults = config.defaults()
    minibatch = config.minibatch_size if config.minibatch_size is not None else defaults.get("minibatch_size")
    batch = config.train_batch_size if config.train_batch_size is not None else defaults.get("train_batch_size")
    takes_minibatches = config.custom_algorithm or config.algorithm in rules(type(config))["minibatch_size"][1].algorithms
    if takes_minibatches and minibatch and batch and minibatch > batch:
        whose = "" if config.minibatch_size is not None else f", {config.scene_name or 'a Unity build'}'s default"
        fail("minibatch_size", f"({minibatch}{whose}) must not exceed train_batch_size ({batch}): give a "
                               f"minibatch_size of {batch} or less")
    given = {k: getattr(config, k) if getattr(config, k) is not None else defaults.get(k)
             for k in ("time_horizon", "train_batch_size", "num_areas")}
    scene_cls = find_scene(config.scene)
    if scene_cls is None:
        return  # a Unity build's behaviors and agents are known only when it opens (rllib_setup checks them then)
    trained = [config.behavior] if config.behavior else [b.name for b in scene_cls.behavior_list()]
    if takes_minibatches and minibatch and batch and is_multi_agent(config, trained):
        problem = minibatch_misfit(minibatch, batch, sum(scene_cls.agents_per_area_of(b) for b in trained)
                                   * (given["num_areas"] or 1))
        if problem:
            whose = "" if config.minibatch_size is not None else f", {scene_cls.name}'s default"
            fail("minibatch_size", f"({minibatch}{whose}) {problem}")
    # one policy: every agent is a sub-env of one vector env
    if (config.algorithm == "PPO" and given["time_horizon"] and given["train_batch_size"] and len(trained) == 1
            and not scene_cls.agents_leave):
        problem = time_horizon_misfit(given["time_horizon"], given["train_batch_size"],
                                      scene_cls.agents_per_area_of(trained[0]) * (given["num_areas"] or 1),
                                      config.num_env_runners)
        if problem:
            fail("time_horizon", problem)


def check_model(config, fail, source: str) -> None:
    if config.model is None:
        return
    if isinstance(config.model, dict):
        if not config.model:
            fail("model", "must name a class, or map behaviors to classes; got an empty mapping")
        config.model = {b: user_code.import_path(p, f"model.{b}", source) for b, p in config.model.items()}
        if config.scene_name is not None:
            names = [b.name for b in SCENES[config.scene_name].behavior_list()]
            unknown = [b for b in config.model if b not in names]
            if unknown:
                fail("model", f"{unknown[0]!r} is not a behavior of {config.scene_name}; its behaviors: "
                              f"{', '.join(names)}")
    else:
        config.model = user_code.import_path(config.model, "model", source)


def check_behavior_settings(config, fail) -> None:
    """Each behavior's own settings: a behavior the run trains, a setting a behavior may have of its own, a
    value that setting allows (checked as the behavior's whole settings would be)."""
    own = config.behavior_settings
    if not isinstance(own, dict):
        fail("behavior_settings", f"must map behaviors to their own settings, got {type(own).__name__}")
    if not own:
        return
    scene_cls = find_scene(config.scene)
    names = [b.name for b in scene_cls.behavior_list()] if scene_cls is not None else None
    for behavior, settings in own.items():
        where = f"behavior_settings.{behavior}"
        if names is not None and behavior not in names:
            fail(where, f"is not a behavior of {scene_cls.name}; its behaviors: {', '.join(names)}")
        if config.behavior is not None and behavior != config.behavior:
            fail(where, f"is not trained: this run trains behavior {config.behavior!r} only")
        if not isinstance(settings, dict):
            fail(where, f"must map settings to values, e.g. {{lr: 1e-3}}, got {settings!r}")
        for name in settings:
            if name not in rules(type(config)):
                fail(f"{where}.{name}", f"is not a setting; a behavior may have its own {', '.join(PER_BEHAVIOR)}")
            if name not in PER_BEHAVIOR:
                fail(f"{where}.{name}", "is shared by every behavior of a run (one learner update goes over all "
                     f"their samples); a behavior may have its own {', '.join(PER_BEHAVIOR)}")
            used_by = rules(type(config))[name][1].algorithms
            if used_by and config.algorithm not in used_by and not config.custom_algorithm:
                fail(f"{where}.{name}", f"is used by {', '.join(used_by)} only, not {config.algorithm}")
        try:
            config.replace(**settings, behavior_settings={}).resolved()
        except ValueError as err:  # ConfigError: said again with the behavior it is about
            fail(f"{where}:", str(err).split(": ", 1)[-1])


def check_self_play(config, fail) -> None:
    """A ``self_play`` block: its values (filled with mlagents-learn's defaults, so the run's settings say what it
    plays with), a built-in scene of two teams or more, every team trained, by PPO."""
    if config.self_play is None or config.self_play is False:
        config.self_play = None
        rated = [p for p, v in (config.env_params or {}).items() if isinstance(v, dict) and any(
            (s.get("completion_criteria") or {}).get("measure") == "elo" for s in v.get("curriculum") or [])]
        if rated:
            fail(f"env_params.{rated[0]}", "moves on by ELO (measure: elo), which only a self-play run rates: add "
                 "self_play, or measure reward or progress")
        return
    config.self_play = self_play.settings(config.self_play, fail)
    scene_cls = find_scene(config.scene)
    if scene_cls is not None:
        try:
            found = self_play.check_teams([b.name for b in scene_cls.behavior_list()], f"the {scene_cls.name} scene")
        except ValueError as err:
            fail("self_play", str(err))
        teams_of_game: dict[str, int] = {}  # a game whose teams share its name trains one policy for all of them
        for team in found.values():
            for b in team:
                game = self_play.split_team(b)[0]
                teams_of_game[game] = teams_of_game.get(game, 0) + 1
        shared = [b for b in config.behavior_settings if teams_of_game.get(self_play.split_team(b)[0], 0) > 1]
        if shared:
            game = self_play.split_team(shared[0])[0]
            fail(f"behavior_settings.{shared[0]}", f"cannot be its own under self-play: the teams of {game} play one "
                 f"policy ({game}); leave behavior_settings out")
    if config.behavior is not None:
        fail("behavior", f"{config.behavior!r} cannot be trained alone under self_play: self-play plays every team "
             "(one learns while the others play its snapshots); remove behavior or self_play")
    if config.algorithm != "PPO":
        fail("self_play", f"trains with PPO (the kit's ghost trainer wraps PPO), not {config.algorithm}; use "
             "algorithm PPO")


def check_poca(config, fail) -> None:
    """POCA: PPO, one behavior whose agents are in groups (a built-in scene says so now, a Unity build when
    opened), vector observations, no observation filter, no self-play."""
    if not (config.poca if config.poca is not None else config.defaults().get("poca")):
        return
    if config.algorithm != "PPO" and config.poca is None:
        config.poca = False  # the scene's POCA is PPO's: another algorithm trains its agents each on its own
        return
    if config.poca is None:  # said in each refusal below: the scene trains with POCA unless told otherwise
        fail = _naming_default(fail, f"{find_scene(config.scene).name} trains with poca unless poca is false")
    scene_cls = find_scene(config.scene)
    if scene_cls is not None:
        _check_poca_scene(scene_cls, config, fail)
    if config.algorithm != "PPO":
        fail("poca", f"is PPO with a group critic, not {config.algorithm}: use algorithm PPO")
    if config.self_play is not None:
        fail("poca", "and self_play cannot be combined yet (POCA trains cooperating groups, self-play competing "
             "teams): remove one")
    if config.normalize:
        fail("normalize", "true is not supported with poca yet (the group critic reads teammates' observations "
             "unfiltered): set normalize false")
    if config.model is not None:
        fail("model", "cannot be given with poca: POCA's module is RLlib's default policy network beside the kit's "
             "group critic; remove model or poca")


def check_threaded(config, fail) -> None:
    """threaded swaps PPO's training step for one that learns in a process of its own (trainer/overlap.py)."""
    if not config.threaded:
        return
    if config.custom_algorithm:
        fail("threaded", f"replaces PPO's training step, and {config.algorithm} is your own algorithm with its own: "
                         "leave threaded out")
    given = [f"{group}.num_learners" for group, values in (config.rllib or {}).items()  # grouped by now
             if isinstance(values, dict) and "num_learners" in values]
    if given:
        fail("threaded", f"learns in exactly one learner process, and rllib {given[0]} asks for its own number: "
                         "give one of them")


def _check_poca_scene(scene_cls, config, fail) -> None:
    """A built-in scene POCA can train: agents in groups, one vector observation."""
    grouped = [b.name for b in scene_cls.behavior_list()] if scene_cls.groups else []
    if not grouped:
        with_groups = ", ".join(name for name, cls in SCENES.items() if cls.groups)
        fail("poca", f"needs agents in groups (Unity's SimpleMultiAgentGroup), and {scene_cls.name}'s agents are in "
             f"none: POCA's critic learns a group's value and each agent's share of it. Built-in scenes with "
             f"groups: {with_groups}; for {scene_cls.name}, use PPO (leave poca out)")
    if len(grouped) > 1 and config.behavior is None:
        fail("poca", "trains one behavior's groups: name it with behavior")
    if any(o.visual for b in scene_cls.behavior_list() for o in b.observations) or len(
            scene_cls.behavior.observations) > 1:
        fail("poca", f"{scene_cls.name} has camera or several sensors; the kit's POCA reads one vector observation")


def check_behavioral_cloning(config, fail) -> None:
    """A ``behavioral_cloning`` block (trainer/cloning.py): its keys and values with ML-Agents' defaults, a
    demonstration that fits (``_check_demo``), PPO, no observation filter."""
    given = config.behavioral_cloning
    if given is None:
        return
    where = "behavioral_cloning"
    defaults, keys = BEHAVIORAL_CLONING, ("demo_path", *BEHAVIORAL_CLONING)
    if not isinstance(given, dict) or "demo_path" not in given:
        fail(where, f"must be a mapping with demo_path (and optionally {', '.join(k for k in keys if k != 'demo_path')}), "
             f"got {given!r}")
    unknown = [k for k in given if k not in keys]
    if unknown:
        fail(f"{where}.{unknown[0]}", f"is not a behavioral_cloning setting; they are {', '.join(keys)}")
    out = {**defaults, **given}
    strength = out["strength"]
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 100:
        fail(f"{where}.strength", f"must be a number in [0, 100] (the cloning rate is the policy's times it; ML-Agents' "
             f"default 1.0), got {strength!r}")
    for key, low in (("steps", 0), ("samples_per_update", 0), ("num_epoch", 1), ("batch_size", 1)):
        value = out[key]
        if value is None and key in ("num_epoch", "batch_size"):
            continue  # PPO's num_epochs and minibatch_size
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            fail(f"{where}.{key}", f"must be a whole number >= {low}, got {value!r}")
    out["demo_path"] = _check_demo(config, out["demo_path"], where, "clones", fail)
    config.behavioral_cloning = out
    if config.algorithm != "PPO":
        fail(where, f"trains beside PPO, not {config.algorithm}: use algorithm PPO")
    if config.normalize:
        fail("normalize", "true is not supported with behavioral_cloning yet (the demonstration's observations would "
             "need the run's running statistics): set normalize false")


def _check_demo(config, path, where: str, verb: str, fail) -> str:
    """A demonstration a run learns from (``behavioral_cloning``, ``gail``): it exists and reads, records one
    vector sensor, of the trained behavior (a built-in scene's spec is compared now, a build's when it opens:
    rllib_setup). Its absolute path (a SageMaker job gets the file in its demos channel)."""
    from ..envs.demo import load_demo
    from ..errors import UnityNbError

    if not isinstance(path, str) or not path:
        fail(f"{where}.demo_path", f"must be the path of a .demo file or a folder of them, got {path!r}")
    path = os.path.abspath(os.path.expanduser(path))  # the learner runs in another process and folder
    if not os.path.exists(path):
        fail(f"{where}.demo_path", f"{path} does not exist: record one with `unity-nb demo record` or "
             "run.record_demo(), or give the path of a file Unity's Demonstration Recorder wrote")
    try:
        demo = load_demo(path)
    except (UnityNbError, ValueError, OSError) as err:
        fail(f"{where}.demo_path", f"cannot be read: {err}")
    if len(demo.spec.observation_specs) != 1 or len(demo.spec.observation_specs[0].shape) != 1:
        fail(f"{where}.demo_path", f"records cameras or several sensors; {where} reads one vector observation yet")
    scene_cls = find_scene(config.scene)
    if scene_cls is not None:
        from ..envs.inprocess import behavior_spec

        trained = [b for b in scene_cls.behavior_list() if config.behavior in (None, b.name)]
        if len(trained) != 1:
            fail(where, f"{verb} one behavior and {scene_cls.name} trains {len(trained)}: name the demonstrated one "
                 "with behavior")
        differs = demo.differences(behavior_spec(trained[0]), trained[0].name)
        if differs:
            fail(f"{where}.demo_path", f"was recorded from another behavior than {scene_cls.name}'s {trained[0].name}: "
                 + "; ".join(differs))
    return path


def check_reward_signals(config, fail) -> None:
    """``curiosity``, ``rnd`` and ``gail`` (trainer/reward_signals.py): their keys and values, filled with the kit's
    defaults (true: all defaults; gail needs its demo_path, which must fit: ``_check_demo``), the run's gamma,
    PPO, one vector observation (a built-in scene's is known now, a build's when opened), no self-play."""
    for name, defaults in REWARD_SIGNALS.items():
        given, signal_fail, default = getattr(config, name), fail, False
        if given is None and config.defaults().get(name):  # the scene trains with it unless told otherwise
            if config.algorithm != "PPO":
                setattr(config, name, False)  # the scene's signal is PPO's: another algorithm trains without it
                continue
            given, default = config.defaults()[name], True  # checked now, filled in by resolved()
            signal_fail = _naming_default(fail, f"{find_scene(config.scene).name} trains with {name} unless {name} "
                                                f"is false")
        if given is None or given is False:
            setattr(config, name, None if given is None else False)
            continue
        if given is True and "demo_path" not in defaults:
            given = {}
        if not isinstance(given, dict) or ("demo_path" in defaults and not given.get("demo_path")):
            what = "a mapping with demo_path" if "demo_path" in defaults else "true or a mapping of its settings"
            fail(name, f"must be {what} ({', '.join(defaults)}), got {given!r}")
        unknown = [k for k in given if k not in defaults]
        if unknown:
            fail(f"{name}.{unknown[0]}", f"is not a {name} setting; they are {', '.join(defaults)}")
        out = {**defaults, **given}
        for key, low, high in (("strength", 0.0, 100.0), ("learning_rate", 0.0, 1.0)):
            value = out[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
                fail(f"{name}.{key}", f"must be a number above {low:g} and at most {high:g}, got {value!r}")
            out[key] = float(value)
        for key, high in (("hidden_units", 4096), ("num_layers", 10)):
            value = out[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                fail(f"{name}.{key}", f"must be a whole number from 1 to {high}, got {value!r}")
        for key in ("normalize", "use_actions", "use_vail"):
            if key in out and not isinstance(out[key], bool):
                fail(f"{name}.{key}", f"must be true or false, got {out[key]!r}")
        gamma, run_gamma = out["gamma"], config.gamma if config.gamma is not None else config.defaults()["gamma"]
        if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, (int, float))
                                  or float(gamma) != float(run_gamma)):
            fail(f"{name}.gamma", f"is {gamma!r} where the run's gamma is {run_gamma!r}: the kit adds intrinsic "
                 "rewards to the scene's and learns one value of their sum, with one gamma (ML-Agents gives each "
                 "signal a value of its own); give both the same gamma, or leave this one out")
        if "demo_path" in out:
            out["demo_path"] = _check_demo(config, out["demo_path"], name, "imitates", fail)
        if not default:
            setattr(config, name, out)
        if config.algorithm != "PPO":
            signal_fail(name, f"trains beside PPO, not {config.algorithm}: use algorithm PPO")
        if config.self_play is not None:
            signal_fail(name, "and self_play cannot be combined yet: remove one")
        scene_cls = find_scene(config.scene)
        if scene_cls is not None:
            for behavior in scene_cls.behavior_list():
                if any(o.visual for o in behavior.observations) or len(behavior.observations) > 1 \
                        or behavior.masks_actions:
                    signal_fail(name, f"{scene_cls.name}'s {behavior.name} has cameras, several sensors or action masks; "
                         f"the kit's {name} network reads one vector observation yet")


def _naming_default(fail, why: str):
    """``fail`` with ``why`` after each message (a refusal caused by a scene's default, not by a given setting)."""
    def failing(key, message):
        fail(key, f"{message} ({why})")
    return failing


def check_backend(config, fail) -> None:
    if config.backend != "sagemaker":
        given = [key for key in SAGEMAKER_SETTINGS if getattr(config, key) is not None]
        if given:
            fail(given[0], "applies to SageMaker runs only: add backend: sagemaker (--backend sagemaker) or leave it out")
        return
    if config.address is not None:
        fail("address", "is for a Ray cluster you run; a SageMaker job forms its own cluster (use instance_count)")
    if config.instance_type is not None and (not isinstance(config.instance_type, str)
                                           or not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", config.instance_type)):
        fail("instance_type", f"must be a SageMaker instance type like ml.c5.2xlarge, got {config.instance_type!r}")
    for key in ("role", "region", "bucket", "image"):
        value = getattr(config, key)
        if value is not None and (not isinstance(value, str) or not value.strip() or value != value.strip()):
            fail(key, f"must be {NAME}, got {value!r}")


def is_multi_agent(config, trained: list[str]) -> bool:
    """Whether the run trains on RLlib's multi-agent env, an agent id per agent episode and a module named after
    each behavior: several behaviors, or agents that come and go (Escape; RLlib takes a lone module named
    ``default_policy`` for a single-agent run)."""
    return len(trained) > 1 or agents_leave(config.scene) or bool(config.poca)


def minibatch_misfit(minibatch: int, train_batch_size: int, agents_per_exchange: int) -> str | None:
    """Why RLlib refuses ``minibatch`` for a multi-agent run (None: it takes it). Such a run's batch is filled in
    exchanges, each a step of all ``agents_per_exchange`` agents (trainer/rllib_setup.py), and RLlib wants a
    minibatch no larger than that count of exchanges, though it cuts each behavior's own steps into minibatches."""
    exchanges = -(-train_batch_size // max(1, agents_per_exchange))
    if minibatch <= exchanges:
        return None
    return (f"must not exceed {exchanges} here: with several behaviors (or agents that come and go) "
            f"RLlib fills train_batch_size {train_batch_size} in exchanges of all {agents_per_exchange} agents "
            f"({exchanges} exchanges) and takes no minibatch larger than that. Give a minibatch_size of {exchanges} "
            f"or less, or a train_batch_size of {minibatch * agents_per_exchange} or more")


def time_horizon_misfit(time_horizon: int, train_batch_size: int, agents_per_process: int,
                        num_env_runners: int | None) -> str | None:
    """Why RLlib's PPO cannot collect ``train_batch_size`` steps in pieces of ``time_horizon`` from every agent of
    every Unity process (None: it can). Each round of sampling takes one piece from every agent, and the batch
    must be a whole number of rounds, within 10% (RLlib's rule); mlagents-learn has no such limit."""
    agents = agents_per_process * max(1, num_env_runners or 0)  # env runner 0 samples when there are no others
    round_ = time_horizon * agents
    rounds = -(-train_batch_size // round_)
    if rounds * round_ - train_batch_size <= 0.1 * train_batch_size:
        return None
    fits = train_batch_size // agents
    instead = f"time_horizon {fits} or less" if fits >= 1 else "fewer areas"
    return (f"{time_horizon} does not fit train_batch_size {train_batch_size}: each round of sampling takes "
            f"{time_horizon} steps from each of the {agents} agents ({round_} steps), and the batch must be a whole "
            f"number of rounds (within 10%). Use {instead}, or a train_batch_size of {round_} or a multiple of it")
