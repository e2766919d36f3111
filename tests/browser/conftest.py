"""Fixtures for browser tests against a real JupyterLab (see labkit.py for the helpers).

- `jupyter_lab` (module): a running `jupyter lab` with a private root folder;
  a `labkit.Lab` with `.url`, `.token`, `.root`, `.log_path`, `.api()`, `.log_tail()`.
- `lab_browser` (module): headless Debian chromium driven by Playwright.
- `lab_page` (function): a fresh 1400x1000 page; on failure a screenshot, the
  browser console and the server log tail are added to the report.

Tests are skipped only when the chromium binary is missing
(`scripts/test.sh` installs it with apt; override the path with UNITY_NB_CHROMIUM).
"""

from __future__ import annotations

import os
import re

import pytest

from labkit import (  # noqa: F401  (re-exported for tests)
    CHROMIUM,
    Lab,
    LabTimeout,
    cleanup_lab_home,
    launch_browser,
    new_page,
    open_notebook,
    run_all,
    screenshot,
    start_lab,
    stop_lab,
    wait_for,
    wait_for_text,
    write_notebook,
)


def _need_chromium():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set UNITY_NB_CHROMIUM)")


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """A `jupyter lab` for the whole session; kernels and server are stopped at the end."""
    _need_chromium()  # no browser, no point in starting a server
    lab = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield lab
    finally:
        stop_lab(lab)
        if os.environ.get("UNITY_NB_KEEP_LAB") != "1":
            cleanup_lab_home(lab)


@pytest.fixture(scope="module")
def lab_browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def lab_page(request, lab_browser, jupyter_lab):
    page = new_page(lab_browser)
    page._unity_nb_lab = jupyter_lab
    page.set_default_timeout(60_000)
    yield page
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            print(f"\nfailure screenshot: {screenshot(page, 'FAILED-' + name)}")
        except Exception as e:
            print(f"\n(no failure screenshot: {e})")
    page.context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    # A LabTimeout already carries the log tail and the console in its message.
    harness_failure = call.excinfo is not None and call.excinfo.errisinstance(LabTimeout)
    if rep.failed and not harness_failure and "jupyter_lab" in getattr(item, "fixturenames", ()):
        lab = item.funcargs.get("jupyter_lab") if hasattr(item, "funcargs") else None
        if isinstance(lab, Lab):
            rep.sections.append((f"jupyter lab log tail ({lab.log_path})", lab.log_tail(80)))
        page = item.funcargs.get("lab_page") if hasattr(item, "funcargs") else None
        console = getattr(page, "_unity_nb_console", None)
        if console:
            rep.sections.append(("browser console (errors, warnings)", "\n".join(console[-40:])))
