"""Deploy: an ONNX file in Unity's model contract, checked, served over HTTP, and played through it."""

import io
import json
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

import unity_nb.train as ut

pytestmark = pytest.mark.ray  # every test here needs a trained policy

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]


@pytest.fixture(scope="module")
def basic_run(trained_basic, tmp_path_factory):
    """A copy of the trained Basic run (exporting writes into its folder)."""
    root = tmp_path_factory.mktemp("deploy-runs")
    shutil.copytree(trained_basic.path, root / trained_basic.id)
    return ut.RunStore(root).get(trained_basic.id)


@pytest.fixture(scope="module")
def exported(basic_run):
    return basic_run.export()


@pytest.fixture(scope="module")
def endpoint(exported, basic_run):
    served = basic_run.deploy()
    yield served
    served.stop()


def post(endpoint, body, content_type="application/json", accept=None):
    """(status, parsed JSON or bytes) of one POST /invocations."""
    headers = {"Content-Type": content_type} if content_type else {}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(f"{endpoint.url}/invocations", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            data = reply.read()
            return reply.status, (json.loads(data) if reply.headers["Content-Type"] == "application/json" else data)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_export_writes_unitys_contract_and_agrees_with_the_policy(exported, basic_run):
    (behavior,) = exported.behaviors
    assert exported.ok and behavior.path == basic_run.path / "export" / "Basic.onnx" and behavior.path.exists()
    # the file as mlagents-learn 0.28 writes Basic's: names, types, shapes, constants, opset
    rows = {r["name"]: r for r in behavior.report.rows()}
    assert list(rows) == ["obs_0", "action_masks", "version_number", "memory_size", "discrete_actions",
                          "discrete_action_output_shape", "deterministic_discrete_actions"]
    assert rows["obs_0"]["shape"] == "[batch, 20]" and rows["action_masks"]["shape"] == "[batch, 3]"
    assert rows["version_number"]["value"] == "3" and rows["memory_size"]["value"] == "0"
    assert rows["discrete_action_output_shape"]["value"] == "3" and rows["discrete_actions"]["type"] == "int64"
    assert behavior.report.opset == 9
    # compared with the trained policy on >= 1000 observations met in real rollouts (and as many random ones)
    assert behavior.observations >= 2000 and behavior.mismatches == 0
    assert "fits Unity's model contract" in str(exported)


def test_the_contract_check_catches_what_unity_would_refuse(exported):
    from unity_nb.deploy import Contract
    from unity_nb.deploy.contract import check_contract

    path = exported.behaviors[0].path
    report = check_contract(path, Contract(((21,),), 0, (3, 2)))
    assert not report.ok
    text = "; ".join(report.problems)
    assert "obs_0 has shape [batch, 20], the behavior's sensor gives [21]" in text
    assert "action_masks has shape [batch, 3], expected [batch, 5]" in text
    assert "the behavior's branches are [3, 2]" in text


def test_masks_are_honoured_in_the_graph(endpoint):
    at_start = [[0.0] * 20]
    at_start[0][10] = 1.0
    status, answer = post(endpoint, json.dumps({"observations": at_start}).encode())
    assert status == 200 and answer["actions"] == [[2]]  # the trained policy walks right, to the large goal
    status, answer = post(endpoint, json.dumps({"observations": at_start, "action_masks": [[1, 1, 0]]}).encode())
    assert status == 200 and answer["actions"][0][0] != 2
    sampled = [post(endpoint, json.dumps({"observations": at_start * 64, "action_masks": [[1, 0, 1]],
                                          "deterministic": False}).encode())[1]["actions"] for _ in range(4)]
    assert all(a[0] in (0, 2) for batch in sampled for a in batch)  # a masked action is never sampled


def test_endpoint_answers_json_and_npy(endpoint):
    with urllib.request.urlopen(f"{endpoint.url}/ping", timeout=5) as reply:
        assert reply.status == 200
    observations = np.eye(20, dtype=np.float32)
    status, answer = post(endpoint, json.dumps({"observations": observations.tolist()}).encode())
    assert status == 200 and len(answer["actions"]) == 20
    buffer = io.BytesIO()
    np.save(buffer, observations)
    status, data = post(endpoint, buffer.getvalue(), content_type="application/x-npy")
    assert status == 200 and np.load(io.BytesIO(data)).ravel().tolist() == [a[0] for a in answer["actions"]]
    status, data = post(endpoint, json.dumps({"observations": observations.tolist()}).encode(),
                        accept="application/x-npy")
    assert status == 200 and np.load(io.BytesIO(data)).shape == (20, 1)


@pytest.mark.parametrize(
    "body,content_type,status,message",
    [
        (b'{"observations": [[1, 2]]}', "application/json", 400, "must have 20 numbers each, got 2"),
        (b'{"observations": [["a"] ]}', "application/json", 400, "list of lists of numbers"),
        (b'{"observations": [[[0]]]}', "application/json", 400, "must be a batch of shape [n, 20], got rank 3"),
        (b'{"observations": []}', "application/json", 400, "rank 1"),
        (json.dumps({"observations": [[0.0] * 20] * 5000}).encode(), "application/json", 400,
         "must hold 1 to 4096 observations, got 5000"),
        (b'{"observations": [[NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}', "application/json",
         400, "NaN or infinite"),
        (b'{"observations": [[Infinity, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}',
         "application/json", 400, "NaN or infinite"),
        (b"observations=1", "text/csv", 415, "content type 'text/csv' is not accepted"),
        (b'{"observations": [[0', "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, 'send a JSON object with "observations"'),
        (b'{"obs": [[0]]}', "application/json", 400, 'send a JSON object with "observations"'),
        (json.dumps({"observations": [[0.0] * 20], "action_masks": [[1, 1]]}).encode(), "application/json", 400,
         "action_masks must have 3 entries per observation"),
        (json.dumps({"observations": [[0.0] * 20], "action_masks": [[0, 0, 0]]}).encode(), "application/json", 400,
         "branch 0 has every action masked"),
        (json.dumps({"observations": [[0.0] * 20], "deterministic": "yes"}).encode(), "application/json", 400,
         '"deterministic" must be true or false'),
        (b"not an npy file", "application/x-npy", 400, "not a .npy array"),
    ],
)
def test_endpoint_refuses_bad_input_and_keeps_serving(endpoint, body, content_type, status, message):
    got, answer = post(endpoint, body, content_type)
    assert got == status and message in answer["error"], answer
    assert post(endpoint, json.dumps({"observations": [[0.0] * 20]}).encode())[0] == 200


def test_oversized_bodies_are_refused_unread(endpoint):
    from unity_nb.deploy.handler import MAX_BODY

    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as s:
        s.sendall(f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(4096):  # the server answers, then closes the connection
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.0 413") or reply.startswith("HTTP/1.1 413"), reply
    assert "at most" in reply


def test_two_hundred_concurrent_clients(endpoint):
    results, errors = [], []

    def client(i):
        observation = [0.0] * 20
        observation[i % 20] = 1.0
        try:
            results.append((i, post(endpoint, json.dumps({"observations": [observation]}).encode())))
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(err))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 200
    assert all(status == 200 and len(answer["actions"]) == 1 for _, (status, answer) in results)


def test_endpoint_listens_on_loopback_only_and_refuses_a_busy_port(endpoint, basic_run):
    local = {line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:] if line.split()[3] == "0A"}
    assert f"0100007F:{endpoint.port:04X}" in local  # 127.0.0.1, listening
    assert f"00000000:{endpoint.port:04X}" not in local  # not every interface
    with pytest.raises(OSError, match=f"port {endpoint.port} is already in use"):
        basic_run.deploy(port=endpoint.port)


def test_closed_loop_through_the_endpoint_matches_the_policy(endpoint, basic_run):
    from unity_nb.deploy import RemotePolicy
    from unity_nb.evaluate import evaluate

    remote = RemotePolicy(endpoint)
    through_http = evaluate(None, "Basic", episodes=20, mode="player", policies={"default_policy": remote})
    in_process = basic_run.evaluate(episodes=20, mode="player")
    assert through_http.returns == in_process.returns and abs(through_http.mean - 0.93) < 1e-6
    assert remote.requests >= 20 * 7  # one request per decision


def test_endpoints_are_listed_and_stopping_frees_the_port(exported, basic_run):
    from unity_nb.deploy.endpoint import endpoints

    served = basic_run.deploy()
    assert served.port in [e.port for e in endpoints()]
    out = subprocess.run([*UNITY_NB, "endpoints"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and served.url in out.stdout and basic_run.id in out.stdout
    out = subprocess.run([*UNITY_NB, "endpoints", "--stop", str(served.port)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and served.url not in out.stdout
    again = basic_run.deploy(port=served.port)  # the port is free again
    again.stop()


def test_cli_export_and_deploy(basic_run):
    store = ["--runs-dir", str(basic_run.path.parent)]
    out = subprocess.run([*UNITY_NB, "export", basic_run.id, "--verify", "200", *store], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "deterministic_discrete_actions" in out.stdout and "fits Unity's model contract" in out.stdout
    out = subprocess.run([*UNITY_NB, "deploy", basic_run.id, *store], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    url = out.stdout.split(" at ")[1].split()[0]
    port = int(url.rsplit(":", 1)[1])
    curl = next(line for line in out.stdout.splitlines() if "curl" in line).split("try it:", 1)[1].strip()
    answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
    assert json.loads(answer.stdout) == {"actions": [[2]]} or "actions" in json.loads(answer.stdout)
    subprocess.run([*UNITY_NB, "endpoints", "--stop", str(port)], capture_output=True, timeout=60)


def test_export_refusals(recorded_runs, tmp_path):
    import os

    starting = ut.RunStore(tmp_path / "runs").create(ut.make_config("Basic"))
    starting.note_launch(os.getpid())  # a live process that has not trained yet
    with pytest.raises(RuntimeError, match="still starting"):
        starting.export()
    no_checkpoint = recorded_runs(iterations=2).run  # running, before its first checkpoint
    with pytest.raises(RuntimeError, match="no checkpoint yet"):
        no_checkpoint.export()
    dqn = recorded_runs(algorithm="DQN").run
    with pytest.raises(ValueError, match="DQN learns Q-values"):
        dqn.export()
    out = subprocess.run([*UNITY_NB, "export", "../etc", "--runs-dir", str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "is not a run id" in out.stderr
    out = subprocess.run([*UNITY_NB, "deploy", dqn.id, "--runs-dir", str(dqn.path.parent)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "DQN learns Q-values" in out.stderr and "Traceback" not in out.stderr


def test_the_dashboards_deploy_button(basic_run, exported):
    from unity_nb.notebook import Dashboard

    dash = Dashboard(basic_run, start=False)
    assert dash.deploy_button.layout.display is None  # shown: the run ended with a checkpoint
    view = dash.deploy()
    try:
        assert dash.deploy_area.children == (view.widget,) and "curl -s http://127.0.0.1:" in view.curl.value
        start = [0.0] * 20
        start[10] = 1.0
        assert "action: <code>[2]</code>" in view.ask(json.dumps(start))
        assert "must have 20 numbers each" in view.ask("[1, 2]")
        assert "not a JSON list" in view.ask("nonsense")
    finally:
        view.stop()


@pytest.fixture(scope="module")
def other_runs(tmp_path_factory):
    """Short runs of 3DBall (continuous actions, normalised observations) and BasicDuo (a policy per behavior,
    each normalising with its own statistics)."""
    root = tmp_path_factory.mktemp("deploy-other")
    ball = ut.train("3DBall", runs_dir=root, steps=3000, normalize=True, target_return="off")
    duo = ut.train("BasicDuo", runs_dir=root, steps=16_000, normalize=True, target_return="off")
    return ball.wait(600), duo.wait(600)


def test_export_continuous_actions_with_normalisation_folded_in(other_runs):
    ball, _ = other_runs
    assert ball.state == "finished" and ball.config.normalize
    exported = ball.export()
    (behavior,) = exported.behaviors
    assert exported.ok and behavior.behavior == "3DBall", str(exported)
    rows = {r["name"]: r for r in behavior.report.rows()}
    assert list(rows) == ["obs_0", "version_number", "memory_size", "continuous_actions",
                          "continuous_action_output_shape", "deterministic_continuous_actions"]
    assert rows["obs_0"]["shape"] == "[batch, 8]" and rows["continuous_action_output_shape"]["value"] == "2"
    assert behavior.observations >= 2000 and behavior.max_difference < 1e-4
    # sampled actions: drawn in the graph, within Unity's [-1, 1], and not all the deterministic ones
    from unity_nb.deploy.handler import PolicyHandler

    handler = PolicyHandler(behavior.path)
    obs = [np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32)]
    sampled, greedy = handler.act(obs, deterministic=False), handler.act(obs)
    assert np.abs(sampled).max() <= 1.0 and np.abs(greedy).max() <= 1.0 and not np.allclose(sampled, greedy)


def test_a_policy_plays_greedy_and_sampled_agents_in_one_batch(other_runs):
    """Per-agent flags (a confirmation's two plays side by side): flagged agents draw, the others act greedily."""
    from unity_nb.evaluate import evaluate
    from unity_nb.evaluate.policy import load_policies

    ball, _ = other_runs
    policy = load_policies(ball.latest_checkpoint())["default_policy"]
    obs = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    flags = np.arange(64) >= 32
    mixed, greedy = policy.act(obs, sampled=flags), policy.act(obs)
    assert mixed.shape == greedy.shape == (64, 2)
    assert np.allclose(mixed[:32], greedy[:32]) and not np.allclose(mixed[32:], greedy[32:])
    both = evaluate(None, "3DBall", episodes=12, num_areas=1, policies={"default_policy": policy}, play="both",
                    max_steps=2000)
    assert len(both.returns) == len(both.sampled.returns) == 12
    assert both.play == "deterministic" and both.sampled.play == "sampled"


def test_export_one_file_per_behavior(other_runs):
    from unity_nb.evaluate.policy import load_policies

    _, duo = other_runs
    assert duo.state == "finished" and duo.config.normalize
    # each behavior's own running statistics (BasicRight and BasicLeft start on opposite sides): ML-Agents' way,
    # where RLlib's multi-agent filter would keep one per RLlib agent id, restarted every agent episode
    policies = load_policies(duo.latest_checkpoint())
    stats = {b: p.normalizer.running_stats for b, p in policies.items()}
    assert sorted(stats) == ["BasicLeft", "BasicRight"] and all(s.n >= 2000 for s in stats.values())
    assert not np.allclose(stats["BasicLeft"].mean, stats["BasicRight"].mean)
    exported = duo.export(verify=500)
    assert exported.ok and sorted(exported.files) == ["BasicLeft", "BasicRight"]
    assert all(p.parent == duo.path / "export" and p.exists() for p in exported.files.values())
    assert all(b.observations >= 1000 and b.mismatches == 0 for b in exported.behaviors)
    with pytest.raises(ValueError, match="one model per behavior"):
        duo.deploy()
    served = duo.deploy(behavior="BasicLeft")
    try:
        assert served.model.endswith("BasicLeft.onnx") and len(served.invoke([[0.0] * 20])) == 1
    finally:
        served.stop()


@pytest.mark.kernel
def test_export_and_deploy_magics(basic_run, tmp_path):
    from kernel import Kernel

    k = Kernel(tmp_path)
    try:
        k.ok("%load_ext unity_nb")
        k.ok(f"%config UnityMagics.runs_dir = {str(basic_run.path.parent)!r}")
        reply = k.ok(f"e = %unity_export {basic_run.id} --verify 200\ne")
        assert "Exported(" in reply.value and "text/html" in reply.displays()[-1]["data"]
        reply = k.ok("d = %unity_deploy\nd")  # the latest run
        assert "application/vnd.jupyter.widget-view+json" in reply.displays()[-1]["data"]
        assert k.ok("d.invoke([[0.0] * 20])").value in ("[[0]]", "[[1]]", "[[2]]")
        assert "Endpoint(" in k.ok("%unity_endpoints").value
        k.ok("d.stop()")
        assert "must be at least 1" in k.run("%unity_export --verify 0").error["evalue"]
        assert "expected a port number" in k.run("%unity_deploy --port 70000").error["evalue"]
    finally:
        k.close()
