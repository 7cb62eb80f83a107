"""Shared pytest set-up: no analytics, no network for the Hub, small thread counts, shared fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_configure(config: pytest.Config) -> None:
    """Silence one warning raised inside torch itself: ``torch.compile`` (used by the compiled-training tests)
    imports a torch module that still calls the deprecated ``torch.jit.script_method``; gen_core does not."""
    config.addinivalue_line(
        "filterwarnings", "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning:torch.jit._script")


@pytest.fixture(scope="session")
def fmnist_test():
    """The real Fashion-MNIST test split (from the Debian package or $GEN_CORE_DATA_DIR)."""
    from gen_core.data.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist("test")


# ----------------------------------------------------------------------------------------------------------------
# A real `python app.py` on a free port, shared by the API (gradio_client) and browser (Playwright) tests.

import socket
import subprocess
import sys
import time
import zipfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def is_hidden_download(update) -> bool:
    """Whether a download button's update (a component from a direct call, or the dict gradio_client returns)
    hides it: what a live run's first frame sends, so the previous run's file is not offered beside the new run."""
    args = getattr(update, "constructor_args", update)
    return args.get("value") is None and args.get("visible") is False


def unpack_download(update, name: str) -> Path:
    """The folder inside a live run's download: checks the button's update shows a file ``name.zip``, unzips it
    beside itself and returns ``<that folder>/name``, with the checks ``name/`` holding the three Hub files."""
    args = getattr(update, "constructor_args", update)
    archive = Path(args["value"])
    assert args["visible"] and archive.name == f"{name}.zip", args
    with zipfile.ZipFile(archive) as z:
        files = sorted(n for n in z.namelist() if not n.endswith("/"))
        assert files == [f"{name}/{f}" for f in ("README.md", "config.json", "model.safetensors")], files
        z.extractall(archive.parent)
    return archive.parent / name


def stop_after_outputs(client, job, stop_api: str, n: int = 1, timeout: float = 180) -> list:
    """Wait until ``job`` (a streaming endpoint submitted through ``client``) has sent ``n`` outputs, press Stop
    through ``stop_api`` (the same client, so the same session) and return the run's final outputs."""
    deadline = time.time() + timeout
    while len(job.outputs()) < n and time.time() < deadline:
        time.sleep(0.2)
    client.predict(api_name=stop_api)
    return job.result(timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """Start `python app.py` as a user would (GRADIO_SERVER_PORT set, no other flags) and wait for HTTP 200."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            if urllib.request.urlopen(url, timeout=5).status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"app.py did not start; see {ARTIFACTS / 'app.log'}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def client(app_url):
    """A gradio_client connected to the running app."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", chromium_sandbox=False, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, app_url):
    """A fresh page (own browser context, i.e. its own Gradio session) opened on the app."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.goto(app_url)
    pg.wait_for_selector("#decoded img", timeout=60_000)
    yield pg
    context.close()
