"""SageMaker from a cell, against the local AWS emulator: time to submit, and log-to-run-folder delay.

    .venv/bin/python bench/sagemaker_bench.py [--rounds 3]

Runs a moto server on 127.0.0.1 (tests/aws_emulator.py) and the tests' SageMaker stand-in
(tests/sagemaker_jobs.py), side by side with the peers, in this process tree:

1. **Submit**: from the call to CreateTrainingJob reaching the emulator, for a built-in scene
   (no build to upload):
   - unity-nb in a warm notebook process: ``unity_nb.train("Basic", backend="sagemaker")``;
   - peer, warm: a hand-written ``ModelTrainer(...).train(wait=False)`` with the SDK already
     imported (what a notebook written by hand does once its imports ran);
   - peer, cold: a fresh Python running that hand-written script (imports included).
   Target: unity-nb <= 3 s.
2. **Log to run folder**: the stand-in prints a recorded run's 16 events into the job's
   CloudWatch stream, one every 0.25 s, each stamped with the time it was printed; the delay is
   when the event appears in the local metrics.jsonl minus that stamp. Target: <= 2 polling
   intervals (the follower polls every ``UNITY_NB_SAGEMAKER_POLL`` seconds; 5 by default, 1 here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

HAND_WRITTEN = """
import sys, time
sys.modules.setdefault("rfc3987_syntax", None) if "{fast}" == "1" else None
from sagemaker.core.helper.session_helper import Session
from sagemaker.train import ModelTrainer
from sagemaker.core.training.configs import Compute, SourceCode, StoppingCondition
import boto3
trainer = ModelTrainer(
    sagemaker_session=Session(boto_session=boto3.Session(), default_bucket="{bucket}"),
    role="{role}", training_image="{image}", base_job_name="hand-written",
    source_code=SourceCode(source_dir="{source}", entry_script="train.py"),
    compute=Compute(instance_type="ml.c5.2xlarge", instance_count=1),
    stopping_condition=StoppingCondition(max_runtime_in_seconds=3600),
    hyperparameters={{"scene": "Basic"}})
trainer.train(wait=False, logs=False)
"""


def wait_for(condition, timeout=120.0, poll=0.005):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(poll)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from aws_emulator import ROLE, AwsEmulator
    from sagemaker_jobs import SageMakerStandIn

    emulator = AwsEmulator()
    os.environ.update(emulator.env)
    poll = 1.0
    os.environ["UNITY_NB_SAGEMAKER_POLL"] = str(poll)
    work = Path(tempfile.mkdtemp(prefix="unity-nb-bench-sm-"))
    os.environ["UNITY_NB_RUNS"] = str(work / "runs")
    recorded = ROOT / "tests" / "data" / "recorded-basic" / "metrics.jsonl"
    standin = SageMakerStandIn(emulator, work / "opt", stage_seconds=0.2, replay=recorded, replay_interval=0.25)

    import unity_nb.train as ut
    from unity_nb import aws as settings

    found = settings.resolve(role=ROLE)
    settings.ensure_bucket(found)
    image, _ = settings.framework_image(found.region, "ml.c5.2xlarge")
    source = work / "hand-written"
    source.mkdir()
    (source / "train.py").write_text("print('hello')\n")

    def received_after(t0: float) -> float:
        wait_for(lambda: any(t >= t0 for t in standin.received.values()))
        return min(t for t in standin.received.values() if t >= t0) - t0

    kit, warm, cold = [], [], []
    delays: list[float] = []
    # the peer, warm: the SDK imported once, as a notebook would have
    exec_globals: dict = {}
    script = HAND_WRITTEN.format(bucket=found.bucket, role=found.role, image=image, source=source, fast="0")
    for _ in range(args.rounds):
        t0 = time.time()
        run = ut.train("Basic", backend="sagemaker", role=ROLE, steps=2000)
        kit.append(received_after(t0))
        # log -> run folder: each replayed event's stamp against its arrival here
        offset, seen = 0, 0
        arrivals: dict[float, float] = {}
        deadline = time.monotonic() + 120
        while seen < 16 and time.monotonic() < deadline:
            events, offset = run.read_events(offset)
            now = time.time()
            for event in events:
                if event["event"] in ("iteration", "log") and event.get("t") not in arrivals:
                    if event["event"] == "iteration" or event.get("message", "").startswith("ready"):
                        arrivals[event["t"]] = now
                        seen += 1
            time.sleep(0.01)
        delays += [arrived - stamp for stamp, arrived in arrivals.items()]
        run.wait(timeout=120)

        t0 = time.time()
        exec(compile(script.replace("import sys, time", "import sys"), "hand-written", "exec"), exec_globals)
        warm.append(received_after(t0))

        t0 = time.time()
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, env=os.environ)
        cold.append(received_after(t0))

    standin.close()
    emulator.stop()

    def row(name, values):
        v = np.array(values)
        return f"  {name:52s} median {np.median(v):6.2f} s  (min {v.min():.2f}, max {v.max():.2f})"

    print(f"submit: the call -> CreateTrainingJob at the emulator, Basic (nothing to upload), {args.rounds} rounds")
    print(row("unity-nb, warm kernel: unity_nb.train(backend=sagemaker)", kit))
    print(row("hand-written ModelTrainer, SDK already imported", warm))
    print(row("hand-written ModelTrainer script, fresh Python", cold))
    print(f"  ratio unity-nb / hand-written warm: {np.median(kit) / np.median(warm):.2f}x; "
          f"/ hand-written cold: {np.median(kit) / np.median(cold):.2f}x; target unity-nb <= 3 s: "
          f"{'met' if np.median(kit) <= 3 else 'NOT met'}")
    d = np.array(delays)
    print(f"log -> run folder ({len(d)} events, follower polling every {poll:g} s): median {np.median(d):.2f} s, "
          f"max {d.max():.2f} s = {d.max() / poll:.2f} polling intervals (target <= 2: "
          f"{'met' if d.max() <= 2 * poll else 'NOT met'})")
    print(json.dumps({"submit_kit_s": kit, "submit_warm_s": warm, "submit_cold_s": cold,
                      "log_delay_s": [round(x, 3) for x in delays]}))


if __name__ == "__main__":
    main()
