"""The import directions of docs/architecture.md, read from the source (every module's import statements)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("nurturehub", "tenants", "crm_adapters", "jobs")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports from, by absolute name (relative imports resolved), at any depth."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
    return names


SOURCES = {
    _module_name(path): _imports(path)
    for app in APPS
    for path in sorted((ROOT / app).rglob("*.py"))
    if "migrations" not in path.parts
}


def _offenders(modules: dict[str, set[str]], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {module: sorted(name for name in names if name.startswith(forbidden)) for module, names in modules.items()}
    return {module: names for module, names in found.items() if names}


def _outside(*prefixes: str) -> dict[str, set[str]]:
    return {module: names for module, names in SOURCES.items() if not module.startswith(prefixes)}


def test_the_sources_were_read():
    assert {"tenants.services", "jobs.events", "jobs.policy", "crm_adapters.client"} <= set(SOURCES)
    assert "jobs.emit" in SOURCES["tenants.services.contacts"]  # the reader sees a real import


@pytest.mark.parametrize("app", ["tenants", "crm_adapters"])
def test_the_apps_never_import_the_job_functions_or_the_engine(app):
    modules = {module: names for module, names in SOURCES.items() if module.startswith(app)}
    assert _offenders(modules, ("jobs.functions", "jobs.engine")) == {}


def test_only_the_engine_imports_the_engine():
    assert _offenders(_outside("jobs.engine"), ("jobs.engine",)) == {}


def test_outside_the_tenants_app_services_are_imported_from_the_package_not_its_modules():
    assert _offenders(_outside("tenants"), ("tenants.services.",)) == {}


def test_the_event_catalogue_needs_only_the_categories_leaf_module():
    tenants_imports = sorted(name for name in SOURCES["jobs.events"] if name.startswith("tenants"))
    assert tenants_imports == ["tenants.categories"]


def test_the_retry_policy_knows_no_app_but_the_crm_errors():
    assert _offenders({"jobs.policy": SOURCES["jobs.policy"]}, ("tenants",)) == {}


def test_the_sdks_private_names_are_read_in_one_module():
    offenders = _offenders(_outside("jobs.inngest_compat", "jobs.engine"), ("inngest._internal",))
    assert offenders == {}
    readers = [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "._opts" in path.read_text() and _module_name(path) != "jobs.inngest_compat"
    ]
    assert readers == []


def test_settings_are_read_directly_so_their_defaults_live_in_settings_py_only():
    # jobs/engine is left out: the engine is a separable app whose settings may be absent from a host project.
    readers = [
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "getattr(settings," in path.read_text() and "engine" not in path.parts
    ]
    assert readers == []


def test_the_jobs_app_reads_no_engine_table_it_asks_the_engine():
    # Retention asks `apps.get_app_config("engine").retention_tables()`: the engine's schema is its own.
    readers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "jobs").rglob("*.py")
        if "engine" not in path.relative_to(ROOT / "jobs").parts[:1]
        and re.search(r"""get_model\(\s*["']engine["']""", path.read_text())
    ]
    assert readers == []
