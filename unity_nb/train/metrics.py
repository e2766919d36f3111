"""The figures of a training iteration, one row each: what the driver writes and every reader shows.

The driver computes each value (``trainer/driver.py``, ``_record``); this table says the rest, once:
what the key means (``schema.EVENTS``, and docs/run-folder.md by scripts/docs_tables.py), how the dashboard draws it (its
panel, label, colour and axis, in the matplotlib figure and the browser chart alike), and whether
it goes to TensorBoard and to SageMaker's metric definitions. A new metric is its value in the
driver plus one row here; a new panel is one row of ``PANELS`` (the dashboard's grid grows with it).
"""

from __future__ import annotations

from dataclasses import dataclass

# Colours of the dashboard's lines (the same in the figure and the browser chart)
BLUE, PURPLE, ORANGE, CYAN, GREEN = "#1a73e8", "#9334e6", "#e37400", "#12b5cb", "#188038"


@dataclass(frozen=True)
class Panel:
    """One plot of the dashboard. ``title`` may name ``{window}`` (the run's return window)."""

    name: str
    title: str
    band: tuple[str, str] | None = None  # (low, high) keys of a shaded band
    target: bool = False  # the run's target return as a dashed line
    confirmations: bool = False  # each confirmation of a reached target as a marker
    lessons: bool = False  # a curriculum's lesson changes as vertical lines
    when: str = ""  # a run setting that must be on for the panel to be drawn ("": always)


def panels(config) -> tuple[Panel, ...]:
    """The panels a run's dashboard draws: every panel whose setting (``when``) the run has on."""
    return tuple(p for p in PANELS if not p.when or getattr(config, p.when, None))


@dataclass(frozen=True)
class Metric:
    """One figure of an ``iteration`` event."""

    key: str
    about: str  # what it is (the run-folder docs)
    unit: str = ""
    panel: str | None = None  # the dashboard panel that draws it (None: not drawn)
    label: str = ""  # its legend entry ("" for a panel's only line)
    color: str = BLUE
    axis: str = "left"  # "right": a second axis of the panel (a figure of another scale)
    dots: bool = False  # drawn as dots, not a line (a noisy figure)
    tensorboard: bool = False
    sagemaker: bool = False  # a SageMaker metric definition (it reaches CloudWatch)
    when: str = ""  # a run setting that must be on for the run to write it ("": every run does)


PANELS: tuple[Panel, ...] = (
    Panel("return", "return over the last {window} episodes (mean, min-max band)",
          band=("episode_return_min", "episode_return_max"), target=True, confirmations=True, lessons=True),
    Panel("length", "episode length (mean)"),
    Panel("losses", "losses and entropy (right axis)"),
    Panel("speed", "agent steps per second"),
    Panel("elo", "self-play: ELO rating of the learning policy", when="self_play"),
)

HEADLINE = "episode_return_mean"  # the figure a run is judged by: early stopping, summaries, the sidebar's sparkline

METRICS: tuple[Metric, ...] = (
    Metric("iteration", "RLlib training iteration, from 1 (goes on after a resume)"),
    Metric("env_steps", "agent steps sampled over the whole run", "steps", sagemaker=True),
    Metric("time_s", "training seconds over the whole run (start-up excluded)", "s"),
    Metric("steps_per_s", "agent steps per second in this iteration", "steps/s", panel="speed", color=CYAN,
           tensorboard=True, sagemaker=True),
    Metric("eta_s", "seconds left to the step budget at this rate", "s"),
    Metric(HEADLINE, "mean return over the window of the last return_window finished episodes",
           panel="return", label="mean, last {window}", tensorboard=True, sagemaker=True),
    Metric("episode_return_min", "minimum over that window", sagemaker=True),
    Metric("episode_return_max", "maximum over that window", sagemaker=True),
    Metric("episode_return_std", "standard deviation over that window", sagemaker=True),
    Metric("episode_length_mean", "mean episode length over that window", "decisions", panel="length",
           color=PURPLE, tensorboard=True, sagemaker=True),
    Metric("episodes_window", "episodes in the window (return_window once it is full)"),
    Metric("return_window", "the window's size"),
    Metric("episodes", "episodes finished over the whole run", sagemaker=True),
    Metric("episode_return_mean/<behavior>", "(one policy per behavior) the window mean of that behavior's episodes"),
    Metric("episodes_window/<behavior>", "(one policy per behavior) episodes in that behavior's window"),
    Metric("iteration_episodes", "episodes that ended in this iteration alone"),
    # the episodes that ended in each iteration alone: noisier, and never what early stopping uses
    Metric("iteration_return_mean", "their mean return", panel="return", label="mean, this iteration", dots=True,
           sagemaker=True),
    Metric("iteration_return_min", "their minimum return"),
    Metric("iteration_return_max", "their maximum return"),
    Metric("iteration_returns", "their returns, in order (the window can be rebuilt from these)"),
    Metric("policy_loss", "learner's policy loss (mean over policies)", panel="losses", label="policy loss",
           tensorboard=True, sagemaker=True),
    Metric("vf_loss", "learner's value-function loss", panel="losses", label="value loss", color=PURPLE,
           tensorboard=True, sagemaker=True),
    Metric("entropy", "policy entropy", panel="losses", label="entropy", color=ORANGE, axis="right",
           tensorboard=True, sagemaker=True),
    Metric("kl", "mean KL divergence between the old and new policy", sagemaker=True),
    Metric("entropy_coeff", "entropy coefficient in use (it decays under a linear schedule)", sagemaker=True),
    Metric("lr", "learning rate in use", sagemaker=True),
    Metric("baseline_loss", "(POCA) the counterfactual baselines' loss", tensorboard=True, when="poca"),
    Metric("bc_loss", "(behavioral_cloning) the cloning loss of the last update; absent once its rate is spent",
           tensorboard=True, when="behavioral_cloning"),
    Metric("curiosity_reward", "(curiosity) mean curiosity reward per agent step of the last batch, strength "
           "included", tensorboard=True, when="curiosity"),
    Metric("curiosity_forward_loss", "(curiosity) the forward model's loss (how badly it predicts what comes next)",
           tensorboard=True, when="curiosity"),
    Metric("curiosity_inverse_loss", "(curiosity) the inverse model's loss (how badly it tells the action taken)",
           tensorboard=True, when="curiosity"),
    Metric("rnd_reward", "(rnd) mean RND reward per agent step of the last batch, strength included",
           tensorboard=True, when="rnd"),
    Metric("rnd_loss", "(rnd) the predictor's loss against the random network", tensorboard=True, when="rnd"),
    Metric("gail_reward", "(gail) mean GAIL reward per agent step of the last batch, strength included",
           tensorboard=True, when="gail"),
    Metric("gail_loss", "(gail) the discriminator's loss", tensorboard=True, when="gail"),
    Metric("gail_expert_estimate", "(gail) the discriminator's mean estimate on demonstrated steps (1: sure they "
           "are)", when="gail"),
    Metric("gail_policy_estimate", "(gail) its mean estimate on the policy's steps (near the expert's: the policy "
           "plays like the demonstration)", when="gail"),
    Metric("player_restarts", "Unity player restarts so far (a crashed build is restarted)"),
    # self-play runs only (trainer/ghost.py)
    Metric("elo", "(self-play) the learning policy's ELO rating (of the first game, when several)", panel="elo",
           color=GREEN, tensorboard=True, sagemaker=True, when="self_play"),
    Metric("elo/<game>", "(self-play, several games) each game's learning policy's rating"),
    Metric("learning_team", "(self-play) the team learning in this iteration"),
    Metric("games_rated", "(self-play) finished games of the learning team counted in the ratings so far"),
)

BY_KEY = {m.key: m for m in METRICS}
# figures some learners log beside PPO's (POCA, cloning, reward signals): in an iteration event when logged
LEARNER_EXTRAS = ("baseline_loss", "bc_loss", "curiosity_reward", "curiosity_forward_loss", "curiosity_inverse_loss",
                  "rnd_reward", "rnd_loss", "gail_reward", "gail_loss", "gail_expert_estimate",
                  "gail_policy_estimate")


def drawn(panel: str) -> list[Metric]:
    """The metrics a dashboard panel draws, in the table's order."""
    return [m for m in METRICS if m.panel == panel]


def tensorboard_keys() -> list[str]:
    return [m.key for m in METRICS if m.tensorboard]


def sagemaker_keys(config=None) -> tuple[str, ...]:
    """The figures SageMaker's metric definitions read: every run's, and those a run with ``config`` also
    writes (a self-play run's ELO). A definition nothing matches would chart nothing."""
    return tuple(m.key for m in METRICS if m.sagemaker and (not m.when or getattr(config, m.when, None)))
