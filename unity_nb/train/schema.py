"""What a run folder holds, written down once: the run states and the ``metrics.jsonl`` event schema.

Every backend (this machine, a Ray cluster, SageMaker) writes these, and every viewer
(dashboard, CLI, server extension) reads them; ``docs/run-folder.md`` says the same in
prose, and a test keeps the two in step. Each event line carries ``"v": SCHEMA_VERSION``;
a reader skips event kinds it does not know and fields it does not need, so adding a
field keeps the version, and renaming or removing one bumps it.
"""

from __future__ import annotations

from enum import Enum

from .metrics import METRICS

SCHEMA_VERSION = 2  # 2: confirmations play deterministic and/or sampled (a table each)


class State(str, Enum):
    """Where a run is. ``stopping`` is read, never written: a live run with a stop request pending."""

    STARTING = "starting"  # created; the training process is being started or is building the algorithm
    RUNNING = "running"  # training iterations are being appended
    STOPPING = "stopping"  # a stop was asked for; the final checkpoint is being written
    STOPPED = "stopped"  # ended on request, after its final checkpoint
    FINISHED = "finished"  # ended by itself: step budget spent or target reached and confirmed
    FAILED = "failed"  # ended with an error (status.json "error", logs/error.txt), or its process vanished

    # prints and shows as its value ("finished", not "State.FINISHED"): it stands in for the plain strings
    __str__ = str.__str__
    __format__ = str.__format__
    __repr__ = str.__repr__


# The ways a confirmation or an evaluation plays a policy: its mean or most likely action ("deterministic",
# Unity's deterministic inference), or a draw from its distribution ("sampled", what an exported model's
# continuous_actions/discrete_actions output gives Unity unless Behavior Parameters ask otherwise).
PLAYS = ("deterministic", "sampled")

# A sweep's folder sits beside the runs it started (train/sweeps.py reads and writes it; docs/notebooks.md):
SWEEP_PLAN = "sweep.json"  # the plan: base settings, search spaces, scheduler, metric, trials, concurrency
SWEEP_STATUS = "status.json"  # its state, as a run's (starting, running, stopped, finished, failed)
SWEEP_TRIALS = "trials.jsonl"  # one line per trial's run, then how it ended; appended, never rewritten
SWEEP_LOG = ("logs", "sweep.log")  # the Tune driver's output
SWEEP_STOP = "stop"  # present once a stop was asked for (removed when the sweep is resumed)
SWEEP_TUNE = "tune"  # Ray Tune's own experiment folder (its state, from which a stopped sweep resumes)


def confirmation_plays(check: dict | None) -> dict[str, dict]:
    """A confirmation event's tables by play ({"deterministic": {episodes, mean, ...}, "sampled": ...});
    a run folder written before confirmations played both ways held one deterministic table at the top."""
    if not check:
        return {}
    if "mean" in check and not any(p in check for p in PLAYS):
        return {"deterministic": {k: check[k] for k in ("episodes", "mean", "min", "max", "std") if k in check}}
    return {p: check[p] for p in PLAYS if p in check}


def confirmation_low(check: dict) -> float | None:
    """The lowest mean among a confirmation's plays: the figure its verdict rests on (drawn on charts)."""
    means = [t["mean"] for t in confirmation_plays(check).values()]
    return min(means) if means else None


def confirmation_text(check: dict) -> str:
    """``100 deterministic episodes: mean 100.000 (min 100.000); 100 sampled: mean 99.2 (min 24.0)``."""
    parts = []
    for play, t in confirmation_plays(check).items():
        parts.append(f"{t['episodes']} {play} episodes: mean {t['mean']:.3f} (min {t['min']:.3f})")
    return "; ".join(parts)


ACTIVE = frozenset({State.STARTING, State.RUNNING, State.STOPPING})
TERMINAL = frozenset({State.STOPPED, State.FINISHED, State.FAILED})

# Each event kind and its fields (beyond "event", "v" and "t", the Unix time it was written).
EVENTS: dict[str, dict[str, str]] = {
    "status": {
        "state": "the new State",
        "behaviors": "(running) the behaviors being trained",
        "error": "(failed) what went wrong, one line",
        "env_steps": "(ended) agent steps sampled over the whole run",
        "episode_return_mean": "(ended) the window's mean return at the end",
        "episodes_window": "(ended) episodes in that window",
        "return_window": "(ended) the window's size",
        "confirmation": "(ended) the last check of a reached target, as its event, or null",
        "target_reached": "(ended) whether a target was reached and confirmed",
    },
    "log": {"message": "a line for people: start-up, resume, confirmations, summary_freq lines"},
    "iteration": {m.key: m.about for m in METRICS},  # one row each in train/metrics.py
    "confirmation": {
        "env_steps": "steps when the target was reached",
        "iteration": "iteration when the target was reached",
        "target": "the target return",
        "passed": "whether each play's mean reached it",
        "seconds": "how long the check took",
        "play": "how the policy was played: deterministic, sampled or both (the run's confirm setting)",
        "deterministic": "(played greedily) episodes, mean, min, max, std of their returns",
        "sampled": "(played with actions drawn from the policy) episodes, mean, min, max, std",
        "by_behavior": "(several behaviors) {behavior: {play: the same}}",
    },
    "checkpoint": {"path": "the complete checkpoint's folder", "env_steps": "steps it holds"},
    "lesson": {
        "parameter": "the environment parameter whose curriculum this is",
        "lesson": "the lesson it is in now, from 0",
        "lessons": "how many lessons its curriculum has",
        "name": "the lesson's name",
        "value": "the parameter's value in it: a number, or a sampler (sampler_type, sampler_parameters with its seed)",
        "previous": "the lesson it left, or null when the run starts or resumes (the lesson it is in then)",
        "reason": "why: the completion criteria met (measure, threshold, episodes), or start / resumed",
        "measured": "the progress or (smoothed) mean reward that ended the previous lesson, or null",
        "require_reset": "whether the environments were reset for it (every agent starts a new episode)",
        "env_steps": "agent steps over the whole run when it began",
        "iteration": "the iteration after which it began (null at start or resume)",
        "time_s": "training seconds over the whole run when it began",
    },
    "placement": {"env_runner_nodes": "(Ray cluster) the node address of each env runner"},
    "self_play": {
        "what": "snapshot (the learning policy saved into the window), swap (an opponent's ghost took other "
                "weights) or team_change (another team learns; every area reset)",
        "env_steps": "agent steps over the whole run when it happened",
        "game": "(snapshot, swap) the game's policy: Pong for both Pong teams",
        "slot": "(snapshot) its place in the window's ring, from 0",
        "snapshots": "(snapshot) snapshots in the window now",
        "elo": "(snapshot) the learning policy's rating, which the snapshot keeps",
        "opponent": "(swap) what the ghost plays now: latest (the current policy) or snapshot N",
        "opponent_elo": "(swap) that opponent's rating",
        "learning_team": "(team_change) the team that learns from now on",
    },
}
