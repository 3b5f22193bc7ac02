"""docs/deploy.md, executed: its `sh deploy:...` blocks, in order, on this machine (`make deploy-test`, run by
.ci/run; skipped elsewhere: it installs Debian's PostgreSQL when missing and makes a cluster, as root).

One category assignment per contact through the API, to a stored sequence (the local OpenAI-compatible fake),
with the web server, the engine, the relay and PostgreSQL each restarted while sequences are being written;
then /readyz is 200 and every contact has exactly one sequence. The doc and the test cannot drift: the commands
run are the doc's own.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.ports import free_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "deploy.md"
CONTACTS = 6

pytestmark = pytest.mark.skipif(
    os.environ.get("DEPLOY_TEST") != "1", reason="the deploy recipe runs with `make deploy-test` (as root)"
)


def recipe() -> dict[str, str]:
    """The doc's `sh deploy:<name>` blocks by name, in the doc's order."""
    blocks = re.findall(r"^```sh deploy:([\w:]+)\n(.*?)^```$", DOC.read_text(), re.MULTILINE | re.DOTALL)
    return dict(blocks)


class Machine:
    def __init__(self, tmp_path: Path, openai: FakeOpenAI) -> None:
        self.blocks = recipe()
        self.logs = tmp_path
        self.web_address = f"127.0.0.1:{free_port()}"
        scrubbed = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "INNGEST_", "DATABASE_"))}
        scrubbed = {k: v for k, v in scrubbed.items() if k not in ("DEBUG", "ENGINE_APP_URLS", "EMBEDDED_DB_NAME")}
        self.env = {
            **scrubbed,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
            "PGPORT": str(free_port()),
            "NH_PG_CLUSTER": f"nhdeploy{os.getpid()}",
            "DB_PASSWORD": secrets.token_hex(12),
            "WEB_ADDRESS": self.web_address,
            "PUBLIC_HOST": "nurturehub.example.com",
            "ENV_FILE": str(tmp_path / "production.env"),
            "OPENAI_API_KEY": openai.api_key,
            "OPENAI_BASE_URL": openai.base_url,
        }
        self.services: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, name: str) -> str:
        done = subprocess.run(  # noqa: S603
            ["bash", "-euo", "pipefail", "-c", self.blocks[name]],  # noqa: S607
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"deploy:{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def start(self, service: str) -> None:
        log = (self.logs / f"{service}.log").open("ab")
        self.services[service] = subprocess.Popen(  # noqa: S603
            ["bash", "-euo", "pipefail", "-c", self.blocks[f"service:{service}"]],  # noqa: S607
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def stop(self, service: str) -> None:
        process = self.services.pop(service)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self, service: str) -> None:
        self.stop(service)
        self.start(service)

    def ready(self) -> bool:
        return (
            subprocess.run(  # noqa: S603
                ["bash", "-c", self.blocks["ready"]],  # noqa: S607
                env=self.env,
                capture_output=True,
                timeout=60,
                check=False,
            ).returncode
            == 0
        )

    def postgres(self, action: str) -> None:
        version = sorted(os.listdir("/usr/lib/postgresql"), key=int)[-1]
        subprocess.run(  # noqa: S603
            ["pg_ctlcluster", version, self.env["NH_PG_CLUSTER"], action],  # noqa: S607
            check=True,
            timeout=120,
        )

    def teardown(self) -> None:
        for service in list(self.services):
            self.stop(service)
        version = sorted(os.listdir("/usr/lib/postgresql"), key=int)[-1] if Path("/usr/lib/postgresql").exists() else ""
        if version:
            subprocess.run(  # noqa: S603
                ["pg_dropcluster", "--stop", version, self.env["NH_PG_CLUSTER"]],  # noqa: S607
                capture_output=True,
                timeout=120,
                check=False,
            )


@pytest.fixture
def machine(tmp_path):
    openai = FakeOpenAI().start()
    machine = Machine(tmp_path, openai)
    yield machine
    machine.teardown()
    openai.stop()


@pytest.mark.timeout(1500)  # a step failed by a PostgreSQL restart retries after Inngest's backoff (15-45 s)
def test_the_deploy_recipe_runs_and_survives_restarts(machine):
    assert list(machine.blocks) == [
        "install",
        "database",
        "env",
        "migrate",
        "agency",
        "service:web",
        "service:engine",
        "service:relay",
        "ready",
    ]
    for step in ("install", "database", "env", "migrate"):
        machine.run(step)
    token = re.search(r"^API token: (\w+)$", machine.run("agency"), re.MULTILINE).group(1)
    for service in ("web", "engine", "relay"):
        machine.start(service)
    wait_for(machine.ready, timeout=180, interval=0.5, message="/readyz 200 after the first start")

    # Through the proxy: https as X-Forwarded-Proto says (http alone is redirected), the public host name.
    api = httpx.Client(
        base_url=f"http://{machine.web_address}/api/v1",
        headers={"Authorization": f"Token {token}", "X-Forwarded-Proto": "https", "Host": "nurturehub.example.com"},
        timeout=60,
    )
    contacts = []
    for index in range(CONTACTS):
        created = api.post(
            "/contacts/", json={"first_name": f"Ada{index}", "last_name": "Deploy", "email": f"ada{index}@example.com"}
        )
        assert created.status_code == 201, created.text
        contacts.append(created.json()["id"])

    def assign(contact_id: str) -> None:
        answer = api.post(f"/contacts/{contact_id}/category/", json={"category": "seller"})
        assert answer.status_code == 202, answer.text

    def sequences(contact_id: str) -> int:
        try:
            return len(api.get(f"/contacts/{contact_id}/sequences/").json()["results"])
        except (httpx.HTTPError, ValueError, KeyError):
            return -1  # the web server is restarting: not an answer

    # Mid-work: each process, then PostgreSQL, restarted while the assigned contacts' sequences are being written.
    for contact_id, restart in zip(contacts, ("engine", "web", "relay", "postgres", None, None), strict=True):
        assign(contact_id)
        if restart == "postgres":
            machine.postgres("restart")
        elif restart:
            machine.restart(restart)
        wait_for(machine.ready, timeout=180, interval=0.5, message=f"/readyz 200 after restarting {restart}")

    wait_for(
        lambda: all(sequences(contact_id) >= 1 for contact_id in contacts),
        timeout=300,
        interval=1,
        message="a stored sequence for every contact",
    )
    assert [sequences(contact_id) for contact_id in contacts] == [1] * CONTACTS  # none lost, none twice
    assert machine.ready()
    assert httpx.get(f"http://{machine.web_address}/healthz", timeout=30).status_code == 200
