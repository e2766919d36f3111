"""The ``unity-nb`` command: the kit's verbs (``unity_nb.verbs``) from a terminal.

Each verb's flags and help come from its one definition; this module only says how
a terminal shows what a verb returns (a progress bar for a run, text tables).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from . import __version__
from .train.schema import confirmation_plays, confirmation_text
from .envs.scenes import find_scene
from .verbs import CLI, RUN_COLUMNS, USER_ERRORS, VERBS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unity-nb",
        description="Train and try reinforcement-learning agents for Unity ML-Agents environments.",
    )
    parser.add_argument("--version", action="version", version=f"unity-nb {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the whole traceback of an error, not only its one line (for a bug report)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in VERBS.values():
        if CLI in verb.faces:
            verb.add_to(sub, CLI)
    return parser


# ---------------------------------------------------------------- how a terminal shows each verb's result
def _progress(run, steps: int) -> dict:
    """Print progress until the run ends: a bar on a terminal, a line every few seconds otherwise."""
    tty = sys.stdout.isatty()
    last_line, last = 0.0, {}
    for event in run.follow():
        if event.get("event") == "log":
            print(f"  {event['message']}", flush=True)
        if event.get("event") != "iteration":
            continue
        last = event
        done = min(event["env_steps"] / steps, 1.0)
        ret = event.get("episode_return_mean")
        line = (f"[{'#' * int(done * 30):30s}] {event['env_steps']:>8d}/{steps} steps  "
                f"return {'-' if ret is None else f'{ret:.3f}'}  {event['steps_per_s']:.0f} steps/s  "
                f"ETA {event['eta_s']:.0f} s")
        if event.get("player_restarts"):
            line += f"  player restarts {event['player_restarts']}"
        if tty:
            print("\r" + line, end="", flush=True)
        elif time.monotonic() - last_line > 5:
            print(line, flush=True)
            last_line = time.monotonic()
    if tty:
        print()
    return last


def _watch(run) -> int:
    """Follow a run to its end (Ctrl-C stops it, checkpointing first), then say how it went."""
    config = run.config
    try:
        last = _progress(run, config.steps)
    except KeyboardInterrupt:
        print("\nunity-nb: stopping (checkpointing first)...", flush=True)
        run.stop()
        last = run.last()
    status = run.status
    ret = last.get("episode_return_mean")
    window = "-" if ret is None else f"{ret:.3f} over the last {last.get('episodes_window')} episodes"
    print(f"unity-nb: run {run.id} {status['state']} after {last.get('env_steps', 0)} steps in "
          f"{last.get('time_s', 0):.1f} s; mean return {window}")
    if config.target is not None and status["state"] != "failed":  # a failed run's line is its error, below
        check = status.get("confirmation")
        if status.get("target_reached"):
            print(f"unity-nb: target {config.target} reached and confirmed at {check['env_steps']} steps: "
                  f"{confirmation_text(check)}")
        elif check:
            print(f"unity-nb: target {config.target} not reached: the last check (at {check['env_steps']} steps) "
                  f"gave {confirmation_text(check)}")
        else:
            print(f"unity-nb: target {config.target} not reached within {config.steps} steps")
    if status["state"] == "failed":
        print(f"unity-nb: error: {status.get('error')} (log: {run.log_path()})", file=sys.stderr)
        return 1
    print(f"unity-nb: checkpoint {run.latest_checkpoint()}")
    return 0


def _print_evaluation(result) -> None:
    for play, played in result.plays().items():
        rows = played.rows()
        for name, table in rows.items():
            if name == "all" and len(rows) > 1:
                continue
            _print_table(table, played.benchmark, "" if name == "all" else f"{name}: ", play, played.against)


def _print_table(table: dict, benchmark: float | None, lead: str = "", play: str = "deterministic",
                 against: str = "") -> None:
    """One line for a table of played episodes (episodes, mean, min, max, std, and games won, drawn and lost
    against an opponent), with the scene's benchmark."""
    verdict = "" if benchmark is None else \
        f" (benchmark {benchmark}: {'reached' if table['mean'] >= benchmark - 1e-6 else 'not reached'})"
    record = f"; won {table['won']}, drawn {table['drawn']}, lost {table['lost']}" if "won" in table else ""
    print(f"unity-nb: {lead}{table['episodes']} {play} episodes{against}: mean {table['mean']:.3f}, "
          f"min {table['min']:.3f}, max {table['max']:.3f}, std {table['std']:.3f}{record}{verdict}")


def _show_train(run, args) -> int:
    if not hasattr(run, "config"):  # --dry-run: the request that was not sent
        print(run)
        return 0
    config = run.config
    print(f"unity-nb: run {run.id} ({config.algorithm} on {config.scene}, {config.steps} steps) -> {run.path}", flush=True)
    if run.backend_state.get("plan"):
        print(run.backend_state["plan"], flush=True)
    print(f"unity-nb: settings: {config.describe()}", flush=True)
    code = _watch(run)
    if code == 0 and args.eval_episodes > 0 and run.latest_checkpoint() is not None:
        confirmed = _final_confirmation(run, args.eval_episodes)
        if confirmed is not None:  # the same weights, already played both ways: no second evaluation
            scene = find_scene(config.scene)
            for play, table in confirmation_plays(confirmed).items():
                _print_table(table, scene.benchmark_return if scene else None,
                             "the target's confirmation played the final weights: ", play)
        else:
            _print_evaluation(run.evaluate(episodes=args.eval_episodes))
    if not config.address and config.backend == "local":
        _say_runtime_stays()
    return code


def _final_confirmation(run, episodes: int) -> dict | None:
    """The run's last confirmation when it played exactly the checkpointed weights both ways, with enough episodes."""
    status = run.status
    check = status.get("confirmation")
    plays = confirmation_plays(check)
    if not (status.get("target_reached") and len(plays) == 2 and all(t["episodes"] >= episodes for t in plays.values())):
        return None
    progress = run.progress(run.latest_checkpoint())
    return check if progress.get("env_steps") == check.get("env_steps") and "by_behavior" not in check else None


def _say_runtime_stays() -> None:
    from .train import service

    found = service.status()
    if found is not None and found["holds"] == 0:
        print(f"unity-nb: the training runtime stays up {found['idle_s'] / 60:g} min for the next run "
              f"(`unity-nb down` stops it now)", flush=True)


def _show_resume(run, args) -> int:
    from .train.sweeps import Sweep

    if isinstance(run, Sweep):
        return _show_sweep(run, args)
    print(f"unity-nb: run {run.id} resumed from {run.latest_checkpoint().name} "
          f"(step budget {run.config.steps}) -> {run.path}", flush=True)
    return _watch(run)


def _show_fork(run, args) -> int:
    from .train.forks import changes_text

    fork = run.forked_from
    print(f"unity-nb: fork of run {fork['parent']} from its {fork['checkpoint']} at {fork['env_steps']} steps; "
          f"changed: {changes_text(fork)}", flush=True)
    return _show_train(run, args)


def _show_sweep(sweep, args) -> int:
    """Say each trial as it starts and ends (Ctrl-C stops the sweep, its runs checkpointing first), then the table."""
    print(f"unity-nb: sweep {sweep.id}: {sweep.plan.describe()} -> {sweep.path}", flush=True)
    said: dict[str, str] = {}
    try:
        while True:
            ended = sweep.state in ("finished", "stopped", "failed")
            for trial in sweep.trials():
                run = sweep.runs_by_id().get(trial["run"])
                state = run.state.value if run is not None else "starting"
                if said.get(trial["trial"]) != state and (state not in ("starting", "running") or trial["trial"] not in said):
                    drawn = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in trial["settings"].items())
                    last = run.last() if run is not None else {}
                    ret = last.get("episode_return_mean")
                    how = "stopped early by the scheduler" if trial.get("stopped_early") else state
                    tail = "" if state in ("starting", "running") else \
                        f" after {last.get('env_steps', 0)} steps, mean return {'-' if ret is None else f'{ret:.3f}'}"
                    fork = f" (fork of {trial['forked_from']})" if trial.get("forked_from") else ""
                    print(f"unity-nb: trial {trial['trial']} ({drawn}): run {trial['run']}{fork} {how}{tail}", flush=True)
                    said[trial["trial"]] = state
            if ended:
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nunity-nb: stopping the sweep (its running trials checkpoint first)...", flush=True)
        sweep.stop()
    status = sweep.status
    if status["state"] == "failed":
        print(f"unity-nb: error: the sweep failed: {status.get('error')} (log: {sweep.log_path})",
              file=sys.stderr)
        return 1
    table = sweep.table()
    if len(table):
        print(table.to_string(index=False))
        best = sweep.best()
        print(f"unity-nb: sweep {status['state']}; best trial: run {best.id} "
              f"({sweep.plan.metric} {best.last().get(sweep.plan.metric)})")
    return 0


def _show_runs(table, args) -> int:
    if not len(table):
        print("no runs yet (unity-nb train Basic starts one)")
        return 0

    def number(value) -> str:
        return "-" if value is None or value != value else f"{value:.3f}"

    print(f"{'id':34s} {'state':9s} {'scene':10s} {'steps':>8s} {'return':>8s} {'(episodes)':>10s}  "
          f"{'greedy':>8s} {'sampled':>8s}  target")
    for s in table.to_dict("records"):
        target = "off" if s["target"] is None or s["target"] != s["target"] else (
            f"{s['target']:g} " + ("confirmed" if s["target_reached"] else "not reached"))
        if s.get("elo") is not None and s["elo"] == s["elo"]:  # self-play: its rating says how it plays
            target += f"  (ELO {s['elo']:.1f})"
        if isinstance(s.get("parent"), str):  # (pandas turns a missing one into NaN)
            target += f"  (fork of {s['parent']})"
        print(f"{s['id']:34s} {s['state']:9s} {os.path.basename(str(s['scene'])):10s} {s['env_steps']:>8d} "
              f"{number(s['return_mean']):>8s} {'(' + str(int(s['episodes_window'] or 0)) + ')':>10s}  "
              f"{number(s['confirmed_deterministic']):>8s} {number(s['confirmed_sampled']):>8s}  {target}")
    return 0


def _show_stop(run, args) -> int:
    from .train.sweeps import Sweep

    if isinstance(run, Sweep):
        print(f"unity-nb: sweep {run.id} {run.state}; `unity-nb resume {run.id}` goes on with it")
        return 0
    print(f"unity-nb: run {run.id} {run.state}; last checkpoint {run.latest_checkpoint()}")
    return 0


def _show_scenes(table, args) -> int:
    print(table.fillna("").to_string(index=False, columns=["name", "kind", "agents", "actions", "benchmark", "about"]))
    return 0


def _show_eval(result, args) -> int:
    _print_evaluation(result)
    return 0


def _show_demo(found, args) -> int:
    """What a .demo holds, a line each (and what differs from --scene's behavior); a recorded one, where it went."""
    s = found.summary()
    where = s["files"][0] if len(s["files"]) == 1 else f"{len(s['files'])} files in {args.path}"
    print(f"unity-nb: {where}: behavior {s['behavior']!r}, format version {s['api_version']}")
    print(f"unity-nb: metadata: {s['steps']} steps, {s['episodes']} episodes, mean reward {s['mean_reward']:.3f}")
    ended = "no episode ended" if s["mean_return"] is None else \
        f"{s['episodes_ended']} episodes ended, mean return {s['mean_return']:.3f}"
    print(f"unity-nb: as a learner reads it: {ended}")
    print("unity-nb: observations: " + ", ".join(f"{name} {shape}" for name, shape in s["observations"])
          + f"; actions: {s['continuous_actions']} continuous, discrete branches {s['discrete_branches'] or '()'}")
    if found.compared is not None:
        scene, differences = found.compared
        print(f"unity-nb: fits {scene}" if not differences else
              "\n".join(f"unity-nb: differs from {scene}: {d}" for d in differences))
        return 1 if differences else 0
    return 0


def _show_video(video, args) -> int:
    if video.saved_to is None:  # a terminal cannot show it: it goes to a file named after what it shows
        video.save(f"{video.name or 'video'}-{time.strftime('%Y%m%d-%H%M%S')}.{video.format}")
    print(f"unity-nb: {video!r} -> {video.saved_to}")
    return 0


def _show_episode(episode, args) -> int:
    import pandas as pd

    from .evaluate.episode import table

    print(f"unity-nb: {episode.steps} steps, return {episode.total_reward:.3f}"
          + ("" if episode.done else " (cut before its end: --max-steps)"))
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table(episode).to_string())
    return 0


def _show_compare(runs, args) -> int:
    rows = [r.summary() for r in runs]
    width = {c: max(len(c), *(len(_cell(row[c])) for row in rows)) for c in RUN_COLUMNS}
    print("  ".join(f"{c:{width[c]}s}" for c in RUN_COLUMNS))
    for row in rows:
        print("  ".join(f"{_cell(row[c]):{width[c]}s}" for c in RUN_COLUMNS))
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return os.path.basename(str(value)) if isinstance(value, str) and "/" in value else str(value)


def _show_dashboard(run, args) -> int:
    print(f"unity-nb: watching run {run.id} ({run.state}); Ctrl-C stops it", flush=True)
    return _watch(run)


def _show_played(played, args) -> int:
    print(played)
    return 0


def _show_export(exported, args) -> int:
    print(exported)
    return 0 if exported.ok else 1


def _show_deploy(endpoint, args) -> int:
    print(f"unity-nb: serving {endpoint.model} at {endpoint.url}")
    print(f"  try it:  {endpoint.curl()}")
    key = getattr(endpoint, "port", None) or endpoint.name
    print(f"  stop it: unity-nb endpoints --stop {key}")
    return 0


def _show_endpoints(found, args) -> int:
    from .deploy.sagemaker import age_text

    notes = [e for e in found if isinstance(e, str)]
    found = [e for e in found if not isinstance(e, str)]
    if not found:
        print("no endpoints running (unity-nb deploy RUN starts one)")
    else:
        print(f"{'endpoint':40s} {'where':22s} {'status':10s} {'age':>8s}  {'run':34s}")
        for e in found:
            if hasattr(e, "port"):
                print(f"{e.url:40s} {'local, pid ' + str(e.pid):22s} {'running':10s} {'-':>8s}  {e.run or '-':34s}")
            else:
                print(f"{e.name:40s} {e.kind:22s} {e.status:10s} {age_text(e.age_s):>8s}  {e.run or '-':34s}")
    for note in notes:
        print(f"({note})")
    return 0


def _show_up(found, args) -> int:
    import datetime

    since = datetime.datetime.fromtimestamp(found["started"]).strftime("%H:%M:%S")
    print(f"unity-nb: training runtime {found['pid']} up since {since}: Ray at {found['address']} (127.0.0.1 only, "
          f"token {found['token']}); ready driver: {found['standby']}")
    runs = ", ".join(os.path.basename(r) for r in found["runs"]) or "none"
    print(f"  runs training: {runs}; notebook sessions holding it: {found['holds']}")
    if found.get("share"):
        print(f"  it may use {found['share']} (set UNITY_NB_CPUS / UNITY_NB_MEMORY to change it)")
    print(f"  stops by itself after {found['idle_s'] / 60:g} min unused; `unity-nb down` stops it now")
    from .train.service import environment_differences

    differs = environment_differences(found.get("env"), os.environ)
    if differs:
        print(f"  note: {differs}")
    return 0


def _show_down(answer, args) -> int:
    if answer is None:
        print("unity-nb: no training runtime is running")
        return 0
    stopped = answer.get("runs_stopped") or []
    print("unity-nb: training runtime stopped" + (f" (runs stopped after a checkpoint: {', '.join(stopped)})"
                                                  if stopped else ""))
    return 0


def _show_doctor(checkup, args) -> int:
    print(checkup.summary())  # each line was printed as it came
    return 0 if checkup.ok else 1


SHOW = {"doctor": _show_doctor, "up": _show_up, "down": _show_down, "train": _show_train, "resume": _show_resume, "fork": _show_fork, "sweep": _show_sweep, "runs": _show_runs, "stop": _show_stop, "scenes": _show_scenes,
        "eval": _show_eval, "video": _show_video, "compare": _show_compare, "episode": _show_episode, "dashboard": _show_dashboard,
        "play": _show_played, "export": _show_export, "demo": _show_demo, "deploy": _show_deploy, "endpoints": _show_endpoints}


def _one_command() -> None:
    """This process is one command: it does not hold the training runtime up (a notebook session does; the
    runtime stays up for its idle time only) nor keep a SageMaker launch warm for a next one."""
    from .train import local, sagemaker

    local.HOLD = False
    sagemaker.keep_warm = False


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    name = {alias: v.name for v in VERBS.values() for alias in v.aliases}.get(args.command, args.command)
    verb = VERBS[name]
    try:
        _one_command()
        if verb.reports:
            result = verb.call(args, report=lambda line: print(line, flush=True))
        else:
            result = verb.call(args)
        show = SHOW.get(name)
        if show is None:
            print(result)
            return 0
        return show(result, args)
    except USER_ERRORS as err:
        if args.debug:
            traceback.print_exc()
        print(f"unity-nb {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unity-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
