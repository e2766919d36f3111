"""What every built-in scene shares: agent bookkeeping in ML-Agents' terms.

A scene simulates all agents of all its areas at once with numpy. Like a Unity
player with the ML-Agents package (``Agent.LazyInitialize`` draws an agent's id
once), every agent keeps its id for the life of the scene, across episodes and
resets; no built-in scene disables or adds agents, which is what gives a Unity
agent a new id. An episode ends on a terminal event or at ``max_step``
(``max_step_reached``) and the agent's next one starts at once: a step's report
holds the finished agents' terminal infos and then a decision request from
every agent, so an agent that just finished appears in both, under one id.

A cooperative scene puts its agents in groups (Unity's ``SimpleMultiAgentGroup``: ``group_id`` 1, 2, ...;
0 = none) and may give a group reward; an agent may leave mid-episode (disabled in Unity: a terminal step,
then silence) and come back with a new id when its group starts again, as a re-enabled Unity agent does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from ...errors import BadValue, NotFound


@dataclass(frozen=True)
class ObservationInfo:
    """One observation of a behavior, as its sensor declares it."""

    name: str
    shape: tuple[int, ...]
    visual: bool = False  # uint8 HWC image, sent PNG-compressed like a Unity camera sensor
    goal_signal: bool = False  # ML-Agents ObservationType.GOAL_SIGNAL


@dataclass(frozen=True)
class BehaviorInfo:
    """A behavior's observations and action spec (Unity's Behavior Parameters)."""

    name: str
    observations: tuple[ObservationInfo, ...]
    continuous_size: int = 0
    discrete_branches: tuple[int, ...] = ()
    masks_actions: bool = False  # its agents write action masks (trained with them: never a masked action)


@dataclass
class AgentBatch:
    """Agent infos of one behavior for one exchange (terminal infos first)."""

    ids: np.ndarray  # int32 agent ids, as Unity reports them (its "episode id", kept across episodes)
    observations: list[np.ndarray]  # one array per observation, first axis = agent
    rewards: np.ndarray  # float32
    done: np.ndarray  # bool
    max_step_reached: np.ndarray  # bool
    action_mask: np.ndarray | None  # bool, True = forbidden (ML-Agents' convention)
    agents: np.ndarray | None = None  # index of each row's agent in the scene
    group_id: np.ndarray | None = None  # int32 Unity group of each agent (0 = none); None: no groups
    group_reward: np.ndarray | None = None  # float32 reward given to each agent's group this step

    def select(self, rows: np.ndarray) -> "AgentBatch":
        return AgentBatch(
            group_id=None if self.group_id is None else self.group_id[rows],
            group_reward=None if self.group_reward is None else self.group_reward[rows],
            ids=self.ids[rows],
            observations=[o[rows] for o in self.observations],
            rewards=self.rewards[rows],
            done=self.done[rows],
            max_step_reached=self.max_step_reached[rows],
            action_mask=None if self.action_mask is None else self.action_mask[rows],
            agents=None if self.agents is None else self.agents[rows],
        )


@dataclass
class Outcome:
    """What one decision did, agent by agent (a scene's ``_apply`` may return just rewards and terminated)."""

    rewards: np.ndarray  # each agent's own reward
    terminated: np.ndarray  # bool: the agent's episode ended on an event of the game
    interrupted: np.ndarray | None = None  # bool: ended by the scene without an event (Unity's GroupEpisodeInterrupted)
    leaving: np.ndarray | None = None  # bool: of those ending, the agents that leave the scene (disabled)
    returning: np.ndarray | None = None  # bool: agents that left and come back now (new ids, new episodes)
    group_rewards: np.ndarray | None = None  # each agent's group reward


@dataclass
class ActionBatch:
    """Actions for every agent of a behavior, in the order of its last decision request."""

    continuous: np.ndarray | None = None  # float32 (n, continuous_size)
    discrete: np.ndarray | None = None  # int32 (n, branches)


class Scene:
    """Base class of the built-in scenes.

    Subclasses set ``name``, ``behavior``, ``agents_per_area``, ``default_params``
    and implement ``_reset_agents``, ``_apply``, ``_observe`` and ``render``. A scene
    with several behaviors sets ``behaviors`` (sharing one observation and action
    layout) and ``area_behaviors``: the behavior index of each agent of an area.
    """

    name: str = ""
    behavior: BehaviorInfo
    behaviors: tuple[BehaviorInfo, ...] = ()
    area_behaviors: tuple[int, ...] = ()
    agents_per_area: int = 1
    default_params: dict[str, float] = {}
    param_help: dict[str, str] = {}
    description: str = ""
    benchmark_return: float | None = None  # the return Unity's own trained model of the scene reaches
    agents_leave = False  # agents leave mid-episode (a vector env of a fixed number of agents cannot play it)
    groups = False  # its agents are in Unity groups (group_id, group rewards): POCA can train it
    # The settings a run of this scene trains with unless told otherwise (TrainConfig's fields; its
    # ``target_return`` stops the run early once reached and confirmed). What a scene leaves out takes
    # the settings for a Unity build the kit knows nothing about (train/config.py, BUILD_DEFAULTS).
    training: dict = {}

    def __init__(self, num_areas: int = 1, seed: int = 0, params: dict[str, float] | None = None):
        if not isinstance(num_areas, (int, np.integer)) or isinstance(num_areas, bool) or num_areas < 1:
            raise BadValue(f"num_areas must be a whole number >= 1, got {num_areas!r}")
        self.num_areas = int(num_areas)
        self.n = self.agents_per_area * self.num_areas
        self.rng = np.random.default_rng(seed)
        self.params = dict(self.default_params)
        for key, value in (params or {}).items():
            self.set_param(key, value)
        self.ids = np.arange(self.n, dtype=np.int32)  # drawn once, as Unity's EpisodeIdCounter does at initialisation
        self._next_id = self.n  # the id the next agent to come back gets
        self.active = np.ones(self.n, dtype=bool)  # agents in the scene (False: left until their group restarts)
        self.marked: set[int] = set()  # agents whose tile is framed (the one a person plays)
        self.group_id: np.ndarray | None = None  # a cooperative scene's Unity group of each agent (1, 2, ...)
        self.step_count = np.zeros(self.n, dtype=np.int64)
        self.episode_return = np.zeros(self.n, dtype=np.float64)
        self.finished_returns: list[float] = []  # read by the stats side channel
        self.masked_actions_taken = 0  # discrete actions a decision's mask forbade (a trainer's bug if not 0)
        self._last: AgentBatch | None = None
        pattern = np.asarray(self.area_behaviors or (0,) * self.agents_per_area, dtype=np.int64)
        self.agent_behavior = np.tile(pattern, self.num_areas)  # behavior index of every agent
        # parameters drawn anew at each episode start (environment randomisation)
        self.samplers: dict[str, Callable[[], float]] = {}
        # every agent's parameters as its episode began (``param(key)``), filled as episodes start
        self.episode_params: dict[str, np.ndarray] = {}

    # ---- parameters (the environment-parameters side channel lands here)
    def set_param(self, key: str, value: float) -> None:
        """Set a scene parameter (e.g. 3DBall's ``mass``); takes effect at each agent's next episode."""
        self.params[key] = self._checked(key, value)

    def _checked(self, key: str, value) -> float:
        """``value`` as the parameter ``key`` takes it (float), or ValueError/KeyError saying why not."""
        if key not in self.default_params:
            known = ", ".join(sorted(self.default_params)) or "none"
            raise NotFound(f"{self.name} has no parameter {key!r}; its parameters: {known}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise BadValue(f"{self.name} parameter {key!r} must be a number, got {value!r}") from None
        if not np.isfinite(value):
            raise BadValue(f"{self.name} parameter {key!r} must be finite, got {value!r}")
        self._check_param(key, value)
        return value

    def _check_param(self, key: str, value: float) -> None:
        """Subclasses reject out-of-range values here."""

    @classmethod
    def behavior_list(cls) -> tuple[BehaviorInfo, ...]:
        """Every behavior of the scene (most scenes: one)."""
        return cls.behaviors or (cls.behavior,)

    @classmethod
    def agents_per_area_of(cls, behavior: str) -> int:
        """How many agents of ``behavior`` one area holds."""
        names = [b.name for b in cls.behavior_list()]
        if not cls.area_behaviors:
            return cls.agents_per_area if behavior in names else 0
        return sum(1 for i in cls.area_behaviors if names[i] == behavior)

    @property
    def max_step(self) -> np.ndarray | int:
        """Each agent's episode length limit, as its episode began (0 = none)."""
        column = self.episode_params.get("max_step")
        return 0 if column is None else column.astype(np.int64)

    def param(self, key: str) -> np.ndarray:
        """Each agent's value of parameter ``key``, as its current episode began (read this in ``_apply``)."""
        return self.episode_params[key]

    # ---- the ML-Agents step cycle
    def reset(self) -> dict[str, AgentBatch]:
        """Full reset (the RESET command): every agent starts a new episode."""
        everyone = np.ones(self.n, dtype=bool)
        self._rejoin(~self.active)
        self._start_episodes(everyone)
        zeros = np.zeros(self.n, dtype=np.float32)
        self._last = self._decision_batch(zeros, None if self.group_id is None else zeros)
        return self._by_behavior(self._last)

    def _rejoin(self, which: np.ndarray) -> None:
        """Agents that left come back, each with a new id (a Unity agent enabled again draws one)."""
        k = int(which.sum())
        if k:
            self.ids[which] = np.arange(self._next_id, self._next_id + k, dtype=np.int32)
            self._next_id += k
            self.active[which] = True

    def step(self, actions: dict[str, ActionBatch]) -> dict[str, AgentBatch]:
        """Apply one decision's actions (the STEP command) and report every agent."""
        if self._last is None:
            return self.reset()
        continuous, discrete = self._gather(actions)
        self._count_masked(discrete)
        out = self._apply(continuous, discrete)
        out = out if isinstance(out, Outcome) else Outcome(*out)
        none = np.zeros(self.n, dtype=bool)
        acted = self.active.copy()  # agents that left are not stepped, rewarded or ended
        everyone = bool(acted.all())  # most scenes: no agent ever leaves, nothing to mask
        rewards = (out.rewards if everyone else np.where(acted, out.rewards, 0)).astype(np.float32)
        group = None  # a scene without group rewards reports none, as Unity does
        if out.group_rewards is not None:
            group = np.where(acted, out.group_rewards, 0).astype(np.float32)
        terminated = out.terminated & acted
        self.step_count += acted
        self.episode_return += rewards
        interrupted = none if out.interrupted is None else out.interrupted
        truncated = acted & ~terminated & (interrupted | ((self.max_step > 0) & (self.step_count >= self.max_step)))
        done = terminated | truncated
        leaving = done & (none if out.leaving is None else out.leaving)
        returning = ~acted & (none if out.returning is None else out.returning)
        if done.any() or returning.any():
            terminal = AgentBatch(
                ids=self.ids[done].copy(),
                observations=[o[done] for o in self._observe()],
                rewards=rewards[done],
                done=np.ones(int(done.sum()), dtype=bool),
                max_step_reached=truncated[done],
                action_mask=None,
                agents=np.flatnonzero(done),
                group_id=None if self.group_id is None else self.group_id[done].copy(),
                group_reward=None if group is None else group[done],
            )
            self.finished_returns.extend(self.episode_return[done].tolist())
            self.active[leaving] = False
            self._rejoin(returning)
            self._start_episodes((done & ~leaving) | returning)
            rewards = np.where(done, np.float32(0), rewards)
            group = None if group is None else np.where(done, np.float32(0), group)
            self._last = _concat(terminal, self._decision_batch(rewards, group))
        else:
            self._last = self._decision_batch(rewards, group)
        return self._by_behavior(self._last)

    def _count_masked(self, discrete: np.ndarray) -> None:
        """Count the actions the last decision's mask forbade (the scene still applies them, as Unity would)."""
        mask = self._last.action_mask if self._last is not None else None
        if mask is None or not discrete.size:
            return
        decided = self._decided()
        decision = mask[-len(decided):]  # the decision rows come last (after terminal ones), in agent order
        offsets = np.concatenate([[0], np.cumsum(self.behavior.discrete_branches)[:-1]])
        forbidden = decision[np.arange(len(decided))[:, None], offsets[None, :] + discrete[decided]]
        self.masked_actions_taken += int(forbidden.sum())

    def _by_behavior(self, batch: AgentBatch) -> dict[str, AgentBatch]:
        behaviors = self.behavior_list()
        if len(behaviors) == 1:  # every row is the one behavior's: no copy (camera frames are most of it)
            return {behaviors[0].name: batch}
        owner = self.agent_behavior[batch.agents]
        return {b.name: batch.select(owner == k) for k, b in enumerate(behaviors)}

    def _start_episodes(self, which: np.ndarray) -> None:
        # Each starting agent reads the parameters once, as a Unity agent does in OnEpisodeBegin: a sampler
        # is drawn for each of them, and a change reaches an agent at its next episode, never mid-episode.
        starting = np.flatnonzero(which)
        for key, value in self.params.items():
            column = self.episode_params.setdefault(key, np.full(self.n, value, dtype=np.float64))
            draw = self.samplers.get(key)
            if draw is None:
                column[starting] = value
                continue
            for i in starting:
                try:
                    column[i] = self._checked(key, draw())
                except ValueError:
                    column[i] = value  # a draw outside the parameter's range: the parameter's value
        self.step_count[which] = 0
        self.episode_return[which] = 0.0
        self._reset_agents(which)

    def _decision_batch(self, rewards: np.ndarray, group_rewards: np.ndarray | None) -> AgentBatch:
        """A decision request from every agent in the scene."""
        batch = AgentBatch(
            ids=self.ids.copy(),
            observations=self._observe(),
            rewards=rewards.astype(np.float32),
            done=np.zeros(self.n, dtype=bool),
            max_step_reached=np.zeros(self.n, dtype=bool),
            action_mask=self._action_mask(),
            agents=np.arange(self.n),
            group_id=None if self.group_id is None else self.group_id.copy(),
            group_reward=None if group_rewards is None else group_rewards.astype(np.float32),
        )
        return batch if self.active.all() else batch.select(np.flatnonzero(self.active))

    def _decided(self) -> np.ndarray:
        """The agents the last report asked for a decision, in the order of its rows."""
        return self._last.agents[~self._last.done]

    def _gather(self, actions: dict[str, ActionBatch]) -> tuple[np.ndarray, np.ndarray]:
        """Every agent's action, behavior by behavior; missing actions are zeros, as in Unity."""
        b = self.behavior
        continuous = np.zeros((self.n, b.continuous_size), dtype=np.float32)
        discrete = np.zeros((self.n, len(b.discrete_branches)), dtype=np.int64)
        decided = self._decided()
        for k, behavior in enumerate(self.behavior_list()):
            rows = decided[self.agent_behavior[decided] == k]
            action = actions.get(behavior.name) or ActionBatch()
            n = len(rows)
            for name, given, full in (("continuous", action.continuous, continuous), ("discrete", action.discrete, discrete)):
                if given is None or len(given) == 0:
                    continue
                if given.shape != (n, full.shape[1]):
                    raise BadValue(
                        f"{self.name}: expected {name} actions of shape {(n, full.shape[1])} for behavior "
                        f"{behavior.name!r}, got {given.shape}"
                    )
                full[rows] = given
        return continuous, discrete

    # ---- to implement
    def _reset_agents(self, which: np.ndarray) -> None:
        raise NotImplementedError

    def _apply(self, continuous: np.ndarray, discrete: np.ndarray) -> tuple[np.ndarray, np.ndarray] | Outcome:
        """Advance the simulation one decision (every agent's row; those that left: zeros); return (rewards,
        terminated), or an Outcome."""
        raise NotImplementedError

    def _observe(self) -> list[np.ndarray]:
        raise NotImplementedError

    def _action_mask(self) -> np.ndarray | None:
        return None

    def render(self) -> np.ndarray:
        """An RGB uint8 frame (even width and height) showing every agent, each tile captioned (``caption``)."""
        raise NotImplementedError

    def tiled(self, frames: list[np.ndarray], columns: int, agents: list) -> np.ndarray:
        """``frames`` in a grid (``tile``), each captioned with what its ``agents`` (an agent, or an area's) did
        so far, and framed when one of them is ``marked``."""
        return tile(frames, columns=columns, captions=[self.caption(a) for a in agents],
                    marked=[bool(self.marked.intersection(np.atleast_1d(a).tolist())) for a in agents])

    def caption(self, agents) -> str:
        """A tile's caption: the step count and return so far of the agents it shows (an area, or one agent).
        Agents that left are not counted; the returns of agents that differ (a team game's) are all listed."""
        agents = np.atleast_1d(agents)
        agents = agents[self.active[agents]] if self.active[agents].any() else agents
        returns = dict.fromkeys(round(float(r), 2) + 0.0 for r in self.episode_return[agents])  # +0.0: no "-0.00"
        return f"step {int(self.step_count[agents].max())}  return " + " / ".join(f"{r:.2f}" for r in returns)


def _concat(a: AgentBatch, b: AgentBatch) -> AgentBatch:
    mask = None
    if b.action_mask is not None:
        # terminal infos carry no mask; Unity sends an all-allowed one
        mask = np.concatenate([np.zeros((len(a.ids), b.action_mask.shape[1]), dtype=bool), b.action_mask])
    def joined(x, y, dtype):
        if x is None and y is None:
            return None
        return np.concatenate([np.zeros(len(a.ids), dtype) if x is None else x,
                               np.zeros(len(b.ids), dtype) if y is None else y])

    return AgentBatch(
        group_id=joined(a.group_id, b.group_id, np.int32),
        group_reward=joined(a.group_reward, b.group_reward, np.float32),
        agents=np.concatenate([a.agents, b.agents]),
        ids=np.concatenate([a.ids, b.ids]),
        observations=[np.concatenate([x, y]) for x, y in zip(a.observations, b.observations)],
        rewards=np.concatenate([a.rewards, b.rewards]),
        done=np.concatenate([a.done, b.done]),
        max_step_reached=np.concatenate([a.max_step_reached, b.max_step_reached]),
        action_mask=mask,
    )


@dataclass
class Canvas:
    """A tiny rasteriser for scene frames (filled rectangles and discs)."""

    height: int
    width: int
    background: tuple[int, int, int] = (30, 30, 36)
    pixels: np.ndarray = field(init=False)

    def __post_init__(self):
        self.pixels = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self.pixels[:] = self.background

    def rect(self, y0, x0, y1, x1, color) -> None:
        y0, x0 = max(int(y0), 0), max(int(x0), 0)
        self.pixels[y0 : max(int(y1), y0), x0 : max(int(x1), x0)] = color

    def disc(self, cy, cx, r, color) -> None:
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, self.height)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, self.width)
        if y0 >= y1 or x0 >= x1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        self.pixels[y0:y1, x0:x1][inside] = color


# Captions: a band under each tile. Drawn only into a copy (``tile``'s output), never into an observation.
CAPTION_HEIGHT = 14  # px; the default font's letters are ~11 px tall
CAPTION_WIDTH = 128  # px: narrower frames are centred in tiles this wide ("step 1000  return 100.00": 123)
CAPTION_BACK, CAPTION_INK = (18, 18, 22), (235, 235, 235)
MARK_COLOR = (255, 200, 0)  # the frame around a marked tile (the agent a person plays)


@lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


@lru_cache(maxsize=2048)
def _word(word: str) -> tuple[np.ndarray, int]:
    """A word's coverage (float32 0..1, CAPTION_HEIGHT rows) and advance in Pillow's default font. Cached:
    FreeType takes ~0.2 ms a caption, and step counts and returns repeat across tiles and frames."""
    from PIL import Image, ImageDraw

    font = _font()
    advance = int(round(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(word, font=font)))
    image = Image.new("L", (advance + 3, CAPTION_HEIGHT))
    ImageDraw.Draw(image).text((1, 0), word, font=font, fill=255)
    return np.asarray(image, dtype=np.float32) / 255, advance


@lru_cache(maxsize=512)
def caption_band(text: str, width: int) -> np.ndarray:
    """A CAPTION_HEIGHT x ``width`` RGB band with ``text`` written on it (clipped to the width; read-only)."""
    cover = np.zeros((CAPTION_HEIGHT, width), dtype=np.float32)
    space = max(_word(" ")[1], 4)  # the font's own space (2 px) runs words together at this size
    x = 2
    for word in text.split(" "):
        alpha, advance = _word(word) if word else (None, 0)
        if alpha is not None and x < width:
            w = min(alpha.shape[1], width - x)
            np.maximum(cover[:, x : x + w], alpha[:, :w], out=cover[:, x : x + w])
        x += advance + space
    back, ink = np.asarray(CAPTION_BACK, np.float32), np.asarray(CAPTION_INK, np.float32)
    band = np.rint(back + cover[..., None] * (ink - back)).astype(np.uint8)
    band.flags.writeable = False
    return band


def tile(frames: list[np.ndarray], columns: int, gap: int = 4, captions: list[str] | None = None,
         marked: list[bool] | None = None) -> np.ndarray:
    """Lay equal-sized frames out in a grid (row-major) with ``gap`` pixels between them, each with its
    caption in a band under it if ``captions`` are given (frames narrower than CAPTION_WIDTH centred), and
    the gap around each ``marked`` one drawn in MARK_COLOR.

    Frame sizes and ``gap`` are even, so the result is too (H.264 needs even sizes). The frames are
    copied: a camera observation tiled here stays as the agent sees it.
    """
    h, w, c = frames[0].shape
    band = CAPTION_HEIGHT if captions is not None else 0
    width = max(w, CAPTION_WIDTH) if captions is not None else w
    pad = (width - w) // 2
    rows = -(-len(frames) // columns)
    out = np.full((rows * (h + band + gap) + gap, columns * (width + gap) + gap, c), 90, dtype=np.uint8)
    for i, frame in enumerate(frames):
        r, col = divmod(i, columns)
        y, x = gap + r * (h + band + gap), gap + col * (width + gap)
        if marked is not None and marked[i]:  # the gap around it, then the tile over the inside
            out[y - gap : y + h + band + gap, x - gap : x + width + gap] = MARK_COLOR
            out[y : y + h + band, x : x + width] = 90
        out[y : y + h, x + pad : x + pad + w] = frame
        if band:
            out[y + h : y + h + band, x : x + width] = caption_band(captions[i], width)
    return out
