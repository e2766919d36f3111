"""The inference handler: an exported policy behind the SageMaker inference contract.

``GET /ping`` answers 200 when the model is loaded; ``POST /invocations`` takes
observations and returns actions. The local endpoint and the SageMaker endpoint run
this same class. Requests (JSON, ``application/json``)::

    {"observations": [[0.0, 1.0, ...], ...]}              a batch for the one sensor
    {"observations": [[[...], ...], [[...], ...]]}        one batch per sensor (several sensors)
    {"observations": ..., "action_masks": [[1, 1, 0], ...], "deterministic": false}

and the answer ``{"actions": [[...], ...]}`` (deterministic unless asked otherwise).
``application/x-npy`` bodies (one sensor's batch, float32) are answered in kind.
Every refusal is a 4xx with ``{"error": "..."}`` that says what was wrong.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np

MAX_BODY = 8 * 1024 * 1024  # bytes; a larger request is refused with 413
MAX_BATCH = 4096  # observations per request
JSON, NPY = "application/json", "application/x-npy"


def example_request(observations: list) -> list:
    """An all-zero request body's ``observations`` for one agent, from ``describe()["observations"]``
    (a width per vector sensor, [C, H, W] per camera): one observation, or one per sensor."""
    zeros = [np.zeros(s if isinstance(s, list) else [s]).tolist() for s in observations]
    return zeros[0] if len(zeros) == 1 else zeros


class RequestError(Exception):
    """A request the handler refuses: ``status`` and a message for the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class PolicyHandler:
    """Loads one exported ``.onnx`` policy and answers /ping and /invocations."""

    def __init__(self, model_path: str | Path):
        import onnxruntime as ort

        self.model_path = Path(model_path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # small MLPs: one thread is fastest, and leaves cores to the server
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        # each sensor's input without the batch axis: [n] for a vector, [C, H, W] for a camera (values in [0, 1])
        self.observation_shapes = [tuple(int(d) for d in inputs[f"obs_{k}"].shape[1:]) for k in range(len(inputs))
                                   if f"obs_{k}" in inputs]
        outputs = [o.name for o in self.session.get_outputs()]
        self.discrete = "discrete_actions" in outputs
        self.mask_width = int(inputs["action_masks"].shape[1]) if "action_masks" in inputs else 0
        constants = dict(zip(outputs, self.session.run(None, self._feeds(
            [np.zeros((1, *shape), np.float32) for shape in self.observation_shapes], None))))
        self.branches = [int(b) for b in np.ravel(constants.get("discrete_action_output_shape", []))]
        self.continuous_size = int(np.ravel(constants.get("continuous_action_output_shape", [0]))[0])
        self.lock = threading.Lock()  # onnxruntime sessions are thread-safe; the counter is not
        self.served = 0

    def describe(self) -> dict:
        """What the endpoint expects and returns (GET /)."""
        # a vector sensor by its width (as before cameras), a camera by its [C, H, W]
        return {"model": self.model_path.name,
                "observations": [s[0] if len(s) == 1 else list(s) for s in self.observation_shapes],
                "continuous_actions": self.continuous_size, "discrete_branches": self.branches,
                "max_batch": MAX_BATCH, "max_body_bytes": MAX_BODY}

    def _feeds(self, observations: list[np.ndarray], masks: np.ndarray | None) -> dict:
        feeds = {f"obs_{k}": o for k, o in enumerate(observations)}
        if self.mask_width:
            batch = observations[0].shape[0]
            feeds["action_masks"] = masks if masks is not None else np.ones((batch, self.mask_width), np.float32)
        return feeds

    # ---- the two routes
    def ping(self) -> tuple[int, bytes, str]:
        return 200, b'{"status": "ok"}', JSON

    def invoke(self, body: bytes, content_type: str | None, accept: str | None = None) -> tuple[int, bytes, str]:
        """Answer one /invocations request: (status, body, content type). Never raises."""
        try:
            if len(body) > MAX_BODY:
                raise RequestError(413, f"the body is {len(body)} bytes; at most {MAX_BODY} are accepted "
                                        f"(send at most {MAX_BATCH} observations per request)")
            kind = (content_type or JSON).split(";")[0].strip().lower()
            if kind == NPY:
                observations, masks, deterministic = [self._npy(body)], None, True
                answer_npy = True
            elif kind in (JSON, "text/json"):
                observations, masks, deterministic = self._json(body)
                answer_npy = (accept or "").split(";")[0].strip().lower() == NPY
            else:
                raise RequestError(415, f"content type {content_type!r} is not accepted: send {JSON} or {NPY}")
            actions = self.act(observations, masks, deterministic)
        except RequestError as err:
            return err.status, json.dumps({"error": str(err)}).encode(), JSON
        with self.lock:
            self.served += 1
        if answer_npy:
            out = io.BytesIO()
            np.save(out, actions, allow_pickle=False)
            return 200, out.getvalue(), NPY
        return 200, json.dumps({"actions": actions.tolist()}).encode(), JSON

    # ---- parsing and checking
    def _npy(self, body: bytes) -> np.ndarray:
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except Exception as err:  # numpy raises ValueError, OSError, EOFError... for a bad file
            raise RequestError(400, f"the body is not a .npy array ({err})") from None
        return self._observation_batch(array, 0)

    def _json(self, body: bytes):
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RequestError(400, f"the body is not valid JSON ({err})") from None
        if not isinstance(request, dict) or "observations" not in request:
            raise RequestError(400, 'send a JSON object with "observations": a list of observation vectors')
        unknown = set(request) - {"observations", "action_masks", "deterministic"}
        if unknown:
            raise RequestError(400, f"unknown field(s) {sorted(unknown)}; accepted: observations, action_masks, "
                                    "deterministic")
        deterministic = request.get("deterministic", True)
        if not isinstance(deterministic, bool):
            raise RequestError(400, f'"deterministic" must be true or false, got {deterministic!r}')
        raw = request["observations"]
        sensors = len(self.observation_shapes)
        per_sensor = [raw] if sensors == 1 else raw
        if sensors > 1 and (not isinstance(raw, list) or len(raw) != sensors):
            raise RequestError(400, f'"observations" must be a list of {sensors} batches, one per sensor')
        observations = [self._observation_batch(self._array(o, f"observations[{k}]" if sensors > 1 else
                                                              "observations"), k) for k, o in enumerate(per_sensor)]
        if len({o.shape[0] for o in observations}) > 1:
            raise RequestError(400, "every sensor's batch must hold the same number of observations")
        masks = None
        if request.get("action_masks") is not None:
            masks = self._masks(self._array(request["action_masks"], "action_masks"), observations[0].shape[0])
        return observations, masks, deterministic

    @staticmethod
    def _array(value, name: str) -> np.ndarray:
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise RequestError(400, f'"{name}" must be a list of lists of numbers (same length each)') from None
        return array

    def _observation_batch(self, array: np.ndarray, sensor: int) -> np.ndarray:
        shape = self.observation_shapes[sensor]
        name = "observations" if len(self.observation_shapes) == 1 else f"observations[{sensor}]"
        want = f"[n, {', '.join(map(str, shape))}]" + (" (a camera: channels first, values 0-1)" if len(shape) == 3 else "")
        if array.dtype.kind not in "fiu":
            raise RequestError(400, f"{name} must hold numbers, got {array.dtype}")
        if array.shape == shape:
            array = array[None]  # one observation without the batch axis
        if array.ndim != len(shape) + 1:
            raise RequestError(400, f"{name} must be a batch of shape {want}, got rank {array.ndim}")
        if array.shape[1:] != shape:
            if len(shape) == 1:
                raise RequestError(400, f"{name} must have {shape[0]} numbers each, got {array.shape[1]}")
            raise RequestError(400, f"{name} must be a batch of shape {want}, got {list(array.shape)}")
        if not 1 <= array.shape[0] <= MAX_BATCH:
            raise RequestError(400, f"{name} must hold 1 to {MAX_BATCH} observations, got {array.shape[0]}")
        array = array.astype(np.float32, copy=False)
        if not np.isfinite(array).all():
            raise RequestError(400, f"{name} holds NaN or infinite values")
        return array

    def _masks(self, masks: np.ndarray, batch: int) -> np.ndarray:
        if not self.mask_width:
            raise RequestError(400, "this policy has continuous actions: action_masks do not apply")
        if masks.ndim == 1:
            masks = masks[None, :]
        if masks.ndim != 2 or masks.shape[1] != self.mask_width:
            raise RequestError(400, f"action_masks must have {self.mask_width} entries per observation "
                                    f"(branches {self.branches}), got shape {list(masks.shape)}")
        if masks.shape[0] not in (1, batch):
            raise RequestError(400, f"action_masks must have one row, or one per observation ({batch})")
        if not np.isin(masks, (0.0, 1.0)).all():
            raise RequestError(400, "action_masks must hold 1 (allowed) or 0 (masked)")
        start = 0
        for k, size in enumerate(self.branches):
            if (masks[:, start:start + size].sum(axis=1) == 0).any():
                raise RequestError(400, f"action_masks: branch {k} has every action masked; allow at least one")
            start += size
        return np.broadcast_to(masks, (batch, self.mask_width)).astype(np.float32)

    def act(self, observations: list[np.ndarray], masks: np.ndarray | None = None,
            deterministic: bool = True) -> np.ndarray:
        """Actions for checked observations: discrete indices (int64) or continuous values in [-1, 1]."""
        name = ("deterministic_" if deterministic else "") + ("discrete_actions" if self.discrete else
                                                                  "continuous_actions")
        return self.session.run([name], self._feeds(observations, masks))[0]
