"""Drive a real JupyterLab in Debian's chromium through Playwright (sync API).

Server side: `start_lab` / `stop_lab` run `jupyter lab` from this venv on
127.0.0.1 with a free port, a fixed random token and a private root, config,
data, runtime and settings folder, so nothing from the user's own Jupyter
setup leaks in and no first-run dialog, news toast or network call shows up.

Page side: `open_notebook`, `run_all`, `wait_for_text`, `wait_for`,
`screenshot` and friends. Every wait has a generous default timeout (JupyterLab
is slow on a 2-core machine) and fails with a message that says what was
awaited, what the page showed and the tail of the server log.

The fixtures that use these live in `conftest.py`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

CHROMIUM = os.environ.get("UNITY_NB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Seconds. JupyterLab's first page load on 2 busy cores can take 30 s and more.
START_TIMEOUT = float(os.environ.get("UNITY_NB_LAB_START_TIMEOUT", 120))
PAGE_TIMEOUT = float(os.environ.get("UNITY_NB_LAB_PAGE_TIMEOUT", 120))
RUN_TIMEOUT = float(os.environ.get("UNITY_NB_LAB_RUN_TIMEOUT", 180))

# Settings that keep a fresh JupyterLab quiet (JupyterLab 4.x plugin ids).
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    # "Would you like to receive official Jupyter news?" toast, update checks
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # extension manager: no "enable third-party extensions?" prompt
    "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False},
}


def screenshot_dir() -> Path:
    d = Path(os.environ.get("UNITY_NB_SCREENSHOTS") or HERE / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------- server


@dataclass
class Lab:
    """A running `jupyter lab`: base `url` (ends with '/'), `token`, notebook `root`."""

    url: str
    token: str
    root: Path
    log_path: Path
    home: Path
    proc: subprocess.Popen = field(repr=False)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"(no server log: {e})"
        return "\n".join(text.splitlines()[-lines:])

    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
        """Call the server's REST API (`path` without leading slash, e.g. 'api/kernels')."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def page_url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}"

    def describe(self) -> str:
        return f"jupyter lab at {self.url} (root {self.root}, log {self.log_path})"


def _lab_command(port: int, token: str, root: Path, home: Path) -> list[str]:
    jupyter = Path(sys.executable).with_name("jupyter")
    return [
        str(jupyter) if jupyter.exists() else sys.executable,
        *([] if jupyter.exists() else ["-m", "jupyter"]),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.allow_root=True",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        # No network: no news feed, no update check, no PyPI extension manager.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # Private settings and workspaces: the user's own never leak in.
        f"--LabApp.user_settings_dir={home / 'user-settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        # Handy for debugging from the devtools console (window.jupyterapp).
        "--LabApp.expose_app_in_browser=True",
    ]


def _write_settings(home: Path) -> None:
    user = home / "user-settings"
    for plugin_id, values in LAB_SETTINGS.items():
        pkg, plugin = plugin_id.split(":")
        p = user / pkg / f"{plugin}.jupyterlab-settings"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(values, indent=2))
    # The same values as defaults, in case a newer JupyterLab ignores user files.
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "default_setting_overrides.json").write_text(json.dumps(LAB_SETTINGS, indent=2))


def start_lab(base: Path | None = None, timeout: float = START_TIMEOUT) -> Lab:
    """Start `jupyter lab` and wait until `/api/status` answers. Stop it with `stop_lab`."""
    home = Path(tempfile.mkdtemp(prefix="unity-nb-lab-", dir=base))
    root = home / "notebooks"
    root.mkdir()
    for d in ("config", "data", "runtime", "ipython"):
        (home / d).mkdir()
    _write_settings(home)
    token = secrets.token_hex(24)
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
        # kernels find the project even without an editable install
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    env.pop("JUPYTER_TOKEN", None)
    log_path = home / "jupyter-lab.log"

    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        log = open(log_path, "ab")
        proc = subprocess.Popen(
            _lab_command(port, token, root, home),
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        lab = Lab(f"http://127.0.0.1:{port}/", token, root, log_path, home, proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = f"jupyter lab exited with code {proc.returncode}"
                break
            try:
                status = lab.api("api/status", timeout=3)
                if isinstance(status, dict) and "started" in status:
                    return lab
            except (urllib.error.URLError, OSError, ValueError) as e:
                last_error = repr(e)
            time.sleep(0.25)
        else:
            stop_lab(lab)
            raise RuntimeError(
                f"jupyter lab did not answer /api/status within {timeout:.0f} s ({last_error})\n"
                f"--- server log ({log_path}) ---\n{lab.log_tail()}"
            )
        if "address already in use" not in lab.log_tail().lower():
            break
    raise RuntimeError(f"jupyter lab failed to start: {last_error}\n--- server log ---\n{lab.log_tail()}")


def _leftover_pids(marker: str) -> list[int]:
    """Processes whose command line mentions `marker` (our private runtime folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(entry.name))
    return pids


def stop_lab(lab: Lab, timeout: float = 20) -> None:
    """Shut down kernels and the server; kill what is left of them (by pid). Idempotent."""
    if lab.proc.poll() is None:
        try:
            for k in lab.api("api/kernels", timeout=5) or []:
                try:
                    lab.api(f"api/kernels/{k['id']}", method="DELETE", timeout=15)
                except Exception:
                    pass
            lab.api("api/shutdown", method="POST", timeout=5)
        except Exception:
            pass
        try:
            lab.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            lab.proc.send_signal(signal.SIGTERM)
            try:
                lab.proc.wait(10)
            except subprocess.TimeoutExpired:
                lab.proc.kill()
                lab.proc.wait(10)
    # Kernels run in their own sessions; their command lines carry our runtime folder.
    marker = str(lab.home / "runtime")
    for pid in _leftover_pids(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cleanup_lab_home(lab: Lab) -> None:
    shutil.rmtree(lab.home, ignore_errors=True)


# ------------------------------------------------------------------ notebooks


def write_notebook(root: Path | str, name: str, cells: Iterable[str | tuple[str, str]]) -> Path:
    """Write `root/name` as a python3 notebook. A cell is code text, or ('markdown', text)."""
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if isinstance(cell, tuple):
            kind, text = cell
            nb.cells.append(v4.new_markdown_cell(text) if kind == "markdown" else v4.new_code_cell(text))
        else:
            nb.cells.append(v4.new_code_cell(cell))
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# ----------------------------------------------------------------------- page


class LabTimeout(AssertionError):
    """Something expected did not show up in JupyterLab in time (or a cell raised).

    Its message carries a screenshot path, open dialogs, the browser console and
    the server log tail.
    """


# The notebook panel on screen (JupyterLab keeps hidden panels in the DOM).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# Where a cell's exception shows up: JupyterLab renders error outputs like stderr
# streams (same mime type, same classes); `cell_errors` tells them apart by text.
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def _lab_of(page) -> Lab | None:
    return getattr(page, "_unity_nb_lab", None)


def fail(page, message: str, shot: str | None = "failure") -> None:
    """Raise LabTimeout with `message`, a screenshot, the page's dialogs/console and the server log tail."""
    __tracebackhide__ = True
    parts = [message]
    if shot:
        try:
            parts.append(f"screenshot: {screenshot(page, shot)}")
        except Exception as e:  # the page may be gone
            parts.append(f"(no screenshot: {e})")
    try:
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        if dialogs:
            parts.append("open dialogs: " + " | ".join(t.replace("\n", " ")[:300] for t in dialogs))
    except Exception:
        pass
    console = getattr(page, "_unity_nb_console", None)
    if console:
        parts.append("--- browser console (last 20) ---\n" + "\n".join(console[-20:]))
    lab = _lab_of(page)
    if lab is not None:
        parts.append(f"--- {lab.describe()}: log tail ---\n{lab.log_tail()}")
    raise LabTimeout("\n".join(parts))


def screenshot(page, name: str, locator=None) -> Path:
    """Save a PNG of the page (or of `locator`) as `<screenshot_dir>/<name>.png`."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    path = screenshot_dir() / f"{safe}.png"
    (locator or page).screenshot(path=str(path))
    return path


def wait_for(
    page,
    what: str | Callable[[], str],
    check: Callable[[], Any],
    timeout: float = PAGE_TIMEOUT,
    interval: float = 0.25,
):
    """Poll `check()` until it returns something truthy; return it.

    `what` names the awaited thing in the failure message (a callable is asked
    at failure time, so it can describe the page's state then).
    """
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if last:
                return last
        except LabTimeout:
            raise
        except Exception as e:  # element not there yet, page navigating...
            last = e
        if time.monotonic() >= deadline:
            if callable(what):
                try:
                    what = what()
                except Exception as e:
                    what = f"<{e!r}>"
            fail(page, f"timed out after {timeout:.0f} s waiting for {what} (last seen: {last!r})")
        page.wait_for_timeout(int(interval * 1000))


def wait_for_text(
    page,
    selector: str,
    predicate: Callable[[str], bool] | str | None = None,
    timeout: float = PAGE_TIMEOUT,
) -> str:
    """Wait until the first element matching `selector` has text for which `predicate` holds.

    `predicate` may be a callable, a substring, or None (any non-empty text).
    Returns the text.
    """
    __tracebackhide__ = True
    if predicate is None:
        test: Callable[[str], bool] = lambda t: bool(t.strip())
    elif isinstance(predicate, str):
        test = lambda t, s=predicate: s in t
    else:
        test = predicate
    seen: list[str] = []

    def check():
        loc = page.locator(selector)
        if loc.count() == 0:
            seen[:] = ["<no element>"]
            return None
        text = loc.first.inner_text(timeout=2000)
        seen[:] = [text]
        return text if test(text) else None

    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
            if got is not None:
                return got
        except Exception as e:
            seen[:] = [repr(e)]
        if time.monotonic() >= deadline:
            fail(page, f"timed out after {timeout:.0f} s waiting for text in {selector!r} (last: {seen[:1]!r})")
        page.wait_for_timeout(200)


def dismiss_popups(page) -> int:
    """Close dialogs and toasts a fresh JupyterLab may show. Returns how many were closed."""
    closed = 0
    for _ in range(5):
        dialog = page.locator(".jp-Dialog")
        if dialog.count() == 0:
            break
        text = dialog.first.inner_text()
        # "Select Kernel" would need a choice: take the default (accept); anything else: cancel/No.
        if "Select Kernel" in text:
            btn = dialog.first.locator(".jp-Dialog-footer .jp-mod-accept")
        else:
            btn = dialog.first.locator(".jp-Dialog-footer .jp-mod-reject, .jp-Dialog-close-button")
        if btn.count() == 0:
            page.keyboard.press("Escape")
        else:
            btn.first.click()
        closed += 1
        page.wait_for_timeout(200)
    # Notification toasts. The news question ("Would you like to get notified about
    # official Jupyter news?") is answered No; any other toast is hidden.
    for _ in range(5):
        toast = page.locator(".Toastify__toast")
        if toast.count() == 0:
            break
        no = toast.first.locator('button.jp-toast-button[title="No"]')
        btn = no if no.count() else toast.first.locator(".jp-Notification-Toast-Close")
        try:
            btn.first.click(timeout=2000)
            closed += 1
        except Exception:
            break
        page.wait_for_timeout(300)
    return closed


def execution_indicator(page) -> str | None:
    """The notebook toolbar's kernel indicator ('idle', 'busy', ...).

    Beware: it already says 'idle' while the status bar still reads
    'No Kernel | Initializing'; use `kernel_status` to know the kernel is there.
    """
    loc = page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator")
    return loc.first.get_attribute("data-status") if loc.count() else None


def kernel_status(page) -> str | None:
    """The kernel state the status bar shows ('Python 3 (ipykernel) | Idle' -> 'idle').

    'no kernel' while there is none yet; None if the status bar shows no kernel item.
    """
    for text in page.locator(".jp-StatusBar-Item .jp-StatusBar-TextItem").all_inner_texts():
        m = re.fullmatch(r"(.+?) \| ([A-Za-z][A-Za-z ]*)", text.strip())
        if m:
            return "no kernel" if m.group(1).strip() == "No Kernel" else m.group(2).strip().lower()
    return None


def kernel_idle(page) -> bool:
    """A kernel is connected and idle: status bar 'Idle' and toolbar indicator 'idle'."""
    return kernel_status(page) == "idle" and execution_indicator(page) == "idle"


def wait_kernel_idle(page, timeout: float = PAGE_TIMEOUT) -> None:
    """Wait until the notebook's kernel is connected and idle (dismissing popups meanwhile)."""
    __tracebackhide__ = True

    def check():
        dismiss_popups(page)
        return kernel_idle(page) or None

    wait_for(
        page,
        lambda: f"the notebook's kernel to be idle (status bar: {kernel_status(page)!r}, "
        f"toolbar indicator: {execution_indicator(page)!r})",
        check,
        timeout,
    )


def open_notebook(page, lab: Lab, name: str, timeout: float = PAGE_TIMEOUT):
    """Open `name` (relative to the lab root) in JupyterLab and wait for its kernel to be idle.

    A fresh workspace each time (`?reset`), so tabs from an earlier test do not come back.
    Returns the notebook panel's locator.
    """
    __tracebackhide__ = True
    page._unity_nb_lab = lab
    url = lab.page_url(f"lab/tree/{quote(name)}?reset")
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    tab = f'.lm-TabBar-tab[data-type="document-title"] .lm-TabBar-tabLabel:text-is("{Path(name).name}")'
    wait_for(page, f"the notebook tab {name!r}", lambda: page.locator(tab).count() > 0, timeout)
    wait_for(page, "the notebook panel", lambda: page.locator(f"{PANEL} .jp-Notebook").count() > 0, timeout)
    wait_kernel_idle(page, timeout)
    return page.locator(PANEL).first


def _prompts(page) -> list[str]:
    return [p.strip() for p in page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()]


# IPython's rendering of an exception: a rule of dashes, then 'NameError   Traceback (most recent call last)'.
_TRACEBACK = re.compile(r"^\s*-{20,}\s*\n\s*\S+.*Traceback \(most recent call last\)")


def cell_errors(page) -> list[str]:
    """Texts of the exceptions shown in the notebook's outputs."""
    texts = page.locator(f"{PANEL} {ERROR_OUTPUT}").all_inner_texts()
    return [t for t in texts if _TRACEBACK.match(t)]


def run_all(page, timeout: float = RUN_TIMEOUT, allow_errors: bool = False, wait: bool = True) -> list[str]:
    """Run > Run All Cells; wait until the run is over. Returns the cells' prompts ('[3]:').

    The run is over when no cell is queued or running ('[*]') for a moment.
    The kernel need not be idle then: widgets (an ipympl figure fed from a
    thread) keep it flickering busy/idle while it answers their messages.
    JupyterLab stops a Run All at the first exception: then (unless
    `allow_errors`) this fails with the exception's text.
    """
    __tracebackhide__ = True
    wait_kernel_idle(page)
    before = _prompts(page)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
    item = page.locator(
        ".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")
    )
    item.first.wait_for(state="visible", timeout=15_000)
    item.first.click()
    # The run has begun when any prompt changed ('[ ]' -> '[*]' or a new number).
    wait_for(page, "Run All Cells to start (prompts did not change)", lambda: _prompts(page) != before, 30, 0.1)
    if not wait:  # the caller watches the cells run (wait_run_all later)
        return _prompts(page)
    return wait_run_all(page, timeout, allow_errors)


def cell_running(page, index: int) -> bool:
    """Whether code cell ``index`` (0-based) is running or queued ('[*]')."""
    prompts = _prompts(page)
    return index < len(prompts) and "*" in prompts[index]


def wait_run_all(page, timeout: float = RUN_TIMEOUT, allow_errors: bool = False) -> list[str]:
    """Wait until a Run All is over (see run_all); fail on a cell's exception unless ``allow_errors``."""
    __tracebackhide__ = True
    quiet = []

    def over():
        dismiss_popups(page)
        prompts = _prompts(page)
        if any("*" in p for p in prompts):
            quiet.clear()
            return None
        quiet.append(prompts)  # nothing queued or running: make sure it stays so for a moment
        return prompts if len(quiet) >= 3 and quiet[-1] == quiet[-2] == quiet[-3] else None

    prompts = wait_for(page, lambda: f"all cells to finish (Run All Cells); prompts {_prompts(page)}", over,
                       timeout, interval=0.2)
    errors = cell_errors(page)
    not_run = [i for i, p in enumerate(prompts) if not re.fullmatch(r"\[\d+\]:", p)]
    if not allow_errors and (errors or not_run):
        if errors:
            detail = "a cell raised:\n" + errors[0][-3000:]
        else:
            detail = "outputs:\n" + outputs_text(page)[-3000:]
        fail(page, f"Run All Cells stopped: code cells {not_run} (0-based) did not run; {detail}", shot="cell-error")
    return prompts


def video_state(video) -> dict:
    """A <video>'s (a locator) currentTime, readyState, size and error."""
    return video.evaluate(
        "v => ({t: v.currentTime, ready: v.readyState, w: v.videoWidth, h: v.videoHeight, "
        "error: v.error && (v.error.code + ' ' + v.error.message)})")


def wait_video_plays(page, video, timeout: float = 60) -> dict:
    """Wait until ``video`` (a locator) has decoded frames and its time advances; returns its state."""
    __tracebackhide__ = True
    state = wait_for(page, "the video to have data",
                     lambda: (s := video_state(video))["ready"] >= 2 and s["w"] > 0 and s, timeout=timeout)
    if state["error"]:
        fail(page, f"the video failed: {state['error']}")
    samples = []

    def advancing():
        samples.append(video_state(video)["t"])
        return len(samples) >= 2 and samples[-1] > samples[-2] + 0.03

    wait_for(page, lambda: f"the video to play (currentTime samples {samples[-8:]})", advancing, timeout=30,
             interval=0.3)
    return state


def outputs_text(page) -> str:
    """All output text of the notebook on screen (for failure messages)."""
    return "\n".join(page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts())


# -------------------------------------------------------------------- browser


def launch_browser(playwright, headless: bool = True):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=headless, args=CHROMIUM_ARGS)


def new_page(browser, viewport: dict | None = None):
    """A page in a fresh context; console errors are kept on `page._unity_nb_console`."""
    context = browser.new_context(viewport=viewport or VIEWPORT)
    page = context.new_page()
    console: list[str] = []
    page._unity_nb_console = console
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    return page
