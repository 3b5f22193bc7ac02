"""`make conformance`: Inngest's own SDK integration suite (and a TypeScript-SDK check) against the local engine.

Starts a fresh engine stack on a database of its own (web server with /api/inngest, the engine's HTTP side and
/v0/gql, one dispatcher), runs the Python SDK's suite unchanged per framework from its read-only folder with a
virtualenv of its own, prints cases passed / failed / skipped, and fails when a case fails that is not listed in
expected_failures.txt (cases the engine cannot pass yet) or when the TypeScript check fails.

Run with the project's virtualenv: `.venv/bin/python conformance/run.py --suite ../shared/conformance/inngest-py`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.error import URLError

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DATA = ROOT / ".data" / "conformance"
DATABASE = "nurturehub_conformance"
FRAMEWORKS = {"fast_api": "test_fast_api.py", "django": "test_django.py"}
SUITE_TESTS = Path("tests/test_inngest/test_function")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(ROOT.parent / "shared" / "conformance" / "inngest-py"))
    parser.add_argument("--venv", default=str(ROOT / ".data" / "conformance-venv"))
    parser.add_argument("--framework", action="append", choices=sorted(FRAMEWORKS), help="default: all")
    parser.add_argument("--skip-typescript", action="store_true")
    parser.add_argument("--skip-python", action="store_true", help="only the TypeScript check")
    parser.add_argument("--case", action="append", default=[], help="only this case (repeatable); default: all")
    args = parser.parse_args()
    suite = Path(args.suite).resolve()
    if not (suite / SUITE_TESTS).is_dir():
        print(f"conformance: no SDK suite at {suite}; nothing to run")
        return 0
    DATA.mkdir(parents=True, exist_ok=True)
    python = _suite_venv(Path(args.venv))
    expected = _expected_failures(HERE / "expected_failures.txt")
    port = _free_port()
    env = _stack_env(port)
    _fresh_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    stack = _start_stack(env, port)
    ok = True
    try:
        for framework in [] if args.skip_python else args.framework or list(FRAMEWORKS):
            results = _run_suite(python, suite, framework, port, cases=args.case)
            ok &= _report(framework, results, expected)
        if not args.skip_typescript:
            ok &= _typescript_check(port)
    finally:
        for process in reversed(stack):
            process.terminate()
        for process in stack:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"conformance: {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def _suite_venv(venv: Path) -> Path:
    """The suite's own virtualenv (its web frameworks are not the project's dependencies); reinstalled on change."""
    requirements = HERE / "requirements.txt"
    stamp = venv / ".installed"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    if not stamp.exists() or stamp.read_text() != digest:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)  # noqa: S603
        stamp.write_text(digest)
    return python


def _expected_failures(path: Path) -> dict[str, str]:
    """`case_name  reason` per line: cases the engine cannot pass yet (both frameworks)."""
    expected = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            expected[name] = reason.strip()
    return expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stack_env(port: int) -> dict[str, str]:
    origin = f"http://127.0.0.1:{port}"
    return {
        **os.environ,
        "DEBUG": "true",
        "LOCAL_ENGINE_ENABLED": "true",
        "INNGEST_DEV": "true",
        "INNGEST_BASE_URL": origin,
        "INNGEST_SERVE_URL": f"{origin}/api/inngest",
        "EMBEDDED_DB_NAME": DATABASE,
        "ENGINE_WORKERS": "8",
        # The suite calls its "dev server" at http://0.0.0.0:<port> (inngest.experimental.dev_server).
        "ALLOWED_HOSTS": "127.0.0.1,localhost,0.0.0.0",
        "LOG_LEVEL": os.environ.get("CONFORMANCE_LOG_LEVEL", "WARNING"),
    }


def _fresh_database() -> None:
    """Drop the conformance database: every run starts from an empty engine."""
    import psycopg

    from nurturehub.embedded_db import embedded_database_settings

    settings = embedded_database_settings(data_dir=ROOT / ".data" / "postgres", database="postgres")
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user="postgres", dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{DATABASE}"')


def _start_stack(env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    log = (DATA / "stack.log").open("wb")
    manage = [sys.executable, "manage.py"]
    serve = [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"]
    web = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    _wait_until_up(f"http://127.0.0.1:{port}/api/inngest", web)
    engine = subprocess.Popen([*manage, "run_engine"], cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    return [web, engine]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"conformance: the web server exited ({process.returncode}); see {DATA / 'stack.log'}")
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310
                return
        except URLError:
            time.sleep(0.2)
    raise SystemExit(f"conformance: {url} did not answer within {timeout:.0f} s")


def _run_suite(python: Path, suite: Path, framework: str, port: int, cases: list[str]) -> dict[str, tuple[str, str]]:
    """Run one framework's file unchanged; returns {case: (outcome, message)} from pytest's JUnit report."""
    report = DATA / f"{framework}.xml"
    report.unlink(missing_ok=True)
    env = {
        **os.environ,
        "DEV_SERVER_ENABLED": "0",
        "DEV_SERVER_PORT": str(port),
        "PYTHONPATH": str(suite / "pkg" / "test_core"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [
        str(python),
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--timeout",
        "120",
        "-q",
        f"--junitxml={report}",
        str(SUITE_TESTS / FRAMEWORKS[framework]),
    ]
    if cases:
        command += ["-k", " or ".join(cases)]
    with (DATA / f"{framework}.log").open("wb") as log:
        subprocess.run(command, cwd=suite, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if not report.exists():
        raise SystemExit(f"conformance: the {framework} suite did not run; see {DATA / f'{framework}.log'}")
    results = {}
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314 (pytest's own report, written just now)
        name = case.get("name", "").removeprefix("test_")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = (element.get("message") or "").splitlines()[0][:150] if element.get("message") else ""
                break
        results[name] = (outcome, message)
    return results


def _report(framework: str, results: dict[str, tuple[str, str]], expected: dict[str, str]) -> bool:
    outcomes = [outcome for outcome, _ in results.values()]
    counts = {outcome: outcomes.count(outcome) for outcome in ("passed", "failed", "skipped")}
    print(f"\n== {framework}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    unexpected = []
    for name, (outcome, message) in sorted(results.items()):
        note = ""
        if outcome == "failed" and name in expected:
            note = f"  (expected: {expected[name]})"
        elif outcome == "failed":
            note = f"  UNEXPECTED: {message}"
            unexpected.append(name)
        elif name in expected:
            note = "  (listed as expected to fail: remove it from expected_failures.txt)"
        print(f"  {outcome:8} {name}{note}")
    if unexpected:
        print(f"== {framework}: {len(unexpected)} unexpected failure(s): {', '.join(unexpected)}")
    return not unexpected


def _typescript_check(port: int) -> bool:
    """The TypeScript SDK (v3 and v4, their defaults) against the same engine: see typescript/check.mjs."""
    script = HERE / "typescript" / "run.sh"
    if not script.exists():
        return True
    completed = subprocess.run(["bash", str(script), str(port)], cwd=HERE / "typescript", check=False)  # noqa: S603, S607
    return completed.returncode == 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
