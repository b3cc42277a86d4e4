"""The container image, built and run for real with podman (the docker CLI's stand-in here).

Not part of the default run (pyproject's addopts deselect the `container` marker); run it with
`python -m pytest -m container`. Without podman it skips, except under CI=true, where it fails.
Build flags come from $BASE_IMAGE_ARGS, or else from ../shared/container/setup-podman.sh --print-env.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.helpers import chat_line, read_jsonl, upload

pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT.parent / "shared" / "container" / "setup-podman.sh"
KEY = "sk-container-test"
ENV = {"MOCKBATCH_API_KEYS": f"{KEY},sk-second", "MOCKBATCH_SEED": "7", "MOCKBATCH_TIME_SCALE": "100"}


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {shlex.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done


def build_flags() -> list[str]:
    flags = os.environ.get("BASE_IMAGE_ARGS")
    if flags is None and SETUP.is_file():
        flags = subprocess.run(["bash", "-c", f'eval "$(bash {shlex.quote(str(SETUP))} --print-env)"; '
                                'printf %s "$BASE_IMAGE_ARGS"'], capture_output=True, text=True, check=True).stdout
    args = shlex.split(flags or "")
    if "--format" not in args:
        args += ["--format", "docker"]  # the OCI format drops HEALTHCHECK
    return args


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("podman") is None:
        reason = "podman is not installed: run ../shared/container/setup-podman.sh first"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    tag = f"localhost/mockbatch-test:{uuid.uuid4().hex[:12]}"
    # --layers=false: no intermediate images are left behind once the tag is removed
    podman("build", "--layers=false", *build_flags(), "-t", tag, str(ROOT), timeout=900)
    try:
        yield tag
    finally:
        podman("rmi", "-f", tag, check=False)


def inspect(image: str) -> dict[str, Any]:
    """The image's config, with its HEALTHCHECK under "Healthcheck" (podman keeps it beside the config)."""
    found = json.loads(podman("image", "inspect", image).stdout)[0]
    return {**found["Config"], "Healthcheck": found.get("Healthcheck") or found["Config"].get("Healthcheck")}


class Container:
    """One `podman run -d` of the image with a published port and the named volume on /data."""

    def __init__(self, image: str, volume: str, env: dict[str, str]) -> None:
        self.image, self.volume, self.env = image, volume, env
        self.name = f"mockbatch-test-{uuid.uuid4().hex[:12]}"
        self.port = 0

    def start(self) -> Container:
        env = [arg for k, v in self.env.items() for arg in ("-e", f"{k}={v}")]
        # --no-healthcheck: podman would drive the check with systemd timers, absent here; the test runs
        # the image's own check command itself (see healthy())
        podman("run", "-d", "--name", self.name, "--no-healthcheck", "-p", "127.0.0.1::8000",
               "-v", f"{self.volume}:/data", *env, self.image)
        published = podman("port", self.name, "8000/tcp").stdout.strip()
        self.port = int(published.rsplit(":", 1)[1])
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def health_command(self, network: str) -> subprocess.CompletedProcess[str]:
        """Run the image's HEALTHCHECK command (`podman exec` does not work here) in a second container."""
        test = inspect(self.image)["Healthcheck"]["Test"]
        assert test[0] == "CMD", test
        return podman("run", "--rm", "--network", network, "--entrypoint", test[1], self.image, *test[2:],
                      check=False)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = podman("inspect", self.name, "--format", "{{.State.Status}}").stdout.strip()
            if state != "running":
                raise AssertionError(f"container {state}:\n{self.logs()}")
            if self.health_command(f"container:{self.name}").returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy within {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def stop(self) -> None:
        podman("stop", "-t", "20", self.name, check=False)

    def remove(self) -> None:
        podman("rm", "-f", "-t", "2", self.name, check=False)


@pytest.fixture
def volume(image: str) -> Iterator[str]:
    name = f"mockbatch-test-{uuid.uuid4().hex[:12]}"
    podman("volume", "create", name)
    try:
        yield name
    finally:
        podman("volume", "rm", "-f", name, check=False)


@pytest.fixture
def containers(image: str, volume: str) -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for c in started:
        c.remove()


def test_image_runs_as_a_non_root_user_with_data_volume_and_health_check(image: str) -> None:
    cfg = inspect(image)
    env = dict(item.split("=", 1) for item in cfg["Env"])
    assert cfg["User"] == "mockbatch"
    assert "8000/tcp" in cfg["ExposedPorts"]
    assert "/data" in cfg["Volumes"]
    assert env["MOCKBATCH_DB"] == "/data/mockbatch.sqlite3"
    assert env["MOCKBATCH_HOST"] == "0.0.0.0"
    test = cfg["Healthcheck"]["Test"]
    assert test[:3] == ["CMD", "python3", "-c"] and "/_mockbatch/health" in test[3]
    probe = ("import importlib.util, json, os, pathlib, shutil, mockbatch; print(json.dumps({"
             "'uid': os.getuid(), 'package': mockbatch.__file__, 'pip': importlib.util.find_spec('pip') is not None,"
             "'compilers': [c for c in ('gcc', 'cc', 'curl') if shutil.which(c)],"
             "'scenarios': sorted(p.name for p in pathlib.Path(os.environ['MOCKBATCH_SCENARIOS_DIR']).glob('*.toml'))"
             "}))")
    facts = json.loads(podman("run", "--rm", "--entrypoint", "python3", image, "-c", probe).stdout)
    assert facts["uid"] != 0
    assert "/site-packages/mockbatch/" in facts["package"]  # installed, not an editable checkout
    assert facts["pip"] is False and facts["compilers"] == []
    assert facts["scenarios"] == sorted(p.name for p in (ROOT / "scenarios").glob("*.toml"))
    assert facts["scenarios"]


def test_round_trip_then_restart_on_the_same_volume(image: str, volume: str, containers: list[Container]) -> None:
    first = Container(image, volume, ENV).start()
    containers.append(first)
    first.wait_healthy()
    assert "db=/data/mockbatch.sqlite3" in first.logs()
    control = first.base_url.removesuffix("/v1") + "/_mockbatch/scenarios"
    assert httpx.get(control).status_code == 401  # with keys configured, the control plane asks for one too
    scenarios = httpx.get(control, headers={"authorization": f"Bearer {KEY}"}).json()["data"]
    assert {"default", "happy", "create_429"} <= {s["name"] for s in scenarios}

    with openai.OpenAI(base_url=first.base_url, api_key="sk-not-configured", max_retries=0) as stranger, \
            pytest.raises(openai.AuthenticationError):
        stranger.files.list()  # MOCKBATCH_API_KEYS reached the server
    with openai.OpenAI(base_url=first.base_url, api_key=KEY) as client:
        source = upload(client, [chat_line(i) for i in range(3)])
        batch = client.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                                      completion_window="24h", metadata={"run": "container"})
        deadline = time.monotonic() + 60
        while batch.status not in ("completed", "failed", "expired", "cancelled"):
            assert time.monotonic() < deadline, f"batch stuck in {batch.status}"
            time.sleep(0.1)
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed", batch
        assert batch.request_counts is not None and batch.request_counts.completed == 3
        assert batch.output_file_id is not None
        output = client.files.content(batch.output_file_id).content
        lines = read_jsonl(client, batch.output_file_id)
        assert sorted(line["custom_id"] for line in lines) == ["request-0", "request-1", "request-2"]
        assert all(line["response"]["status_code"] == 200 for line in lines)

    first.stop()  # graceful: SIGTERM reaches the server as PID 1
    assert "Traceback" not in first.logs()
    first.remove()

    second = Container(image, volume, ENV).start()
    containers.append(second)
    second.wait_healthy()
    with openai.OpenAI(base_url=second.base_url, api_key=KEY) as client:
        again = client.batches.retrieve(batch.id)
        assert again.status == "completed"
        assert again.output_file_id == batch.output_file_id
        assert again.metadata == {"run": "container"}
        assert client.files.content(batch.output_file_id).content == output
        assert {source.id, batch.output_file_id} <= {f.id for f in client.files.list()}
        assert [b.id for b in client.batches.list()] == [batch.id]


def test_health_check_fails_when_nothing_answers(image: str) -> None:
    idle = Container(image, "unused", {})
    assert idle.health_command("none").returncode != 0
