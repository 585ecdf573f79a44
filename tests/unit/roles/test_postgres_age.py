"""The postgres_age role's tasks as Ubuntu 24.04 (and Debian 13) would run them, rendered with Ansible's templar.

No Ubuntu host can run here (hosts have no network; this machine must not be touched), so the role's task, vars and
template files are loaded as Ansible loads them (trusted YAML, role defaults < play vars < role vars) and the
arguments and conditions of the tasks that decide what is installed are rendered and evaluated with faked facts.
Nothing is executed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[3] / "roles" / "postgres_age"
LOADER = DataLoader()

NOBLE = {"distribution": "Ubuntu", "distribution_release": "noble", "distribution_major_version": "24",
         "distribution_version": "24.04"}
TRIXIE = {"distribution": "Debian", "distribution_release": "trixie", "distribution_major_version": "13",
          "distribution_version": "13.1"}
BOOKWORM = {"distribution": "Debian", "distribution_release": "bookworm", "distribution_major_version": "12",
            "distribution_version": "12.12"}
# what a campaign passes (see the README's example play)
PLAY_VARS = {
    "private_ip": "10.108.0.5",
    "postgres_age_allowed_cidrs": ["10.108.0.0/20"],
    "postgres_age_cert_common_names": ["pg"],
    "postgres_age_tls_cert_src": "/srv/pki/hosts/pg/server.pem",
    "postgres_age_tls_key_src": "/srv/pki/hosts/pg/server.key",
    "postgres_age_ca_src": "/srv/pki/ca.pem",
}


def load(relative: str) -> Any:
    return LOADER.load_from_file(str(ROLE / relative), trusted_as_template=True)


def tasks_of(relative: str) -> Iterator[dict[str, Any]]:
    """Every task of a task file, blocks flattened (a block is yielded too, before its tasks)."""
    def walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item
            for key in ("block", "rescue", "always"):
                yield from walk(item.get(key, []))
    return walk(load(relative))


def task(relative: str, name_start: str) -> dict[str, Any]:
    found = [t for t in tasks_of(relative) if str(t.get("name", "")).startswith(name_start)]
    assert len(found) == 1, f"{relative}: {len(found)} tasks named {name_start!r}..."
    return found[0]


class Role:
    """The variables a host sees when the role runs on it: defaults, play vars, role vars, facts."""

    def __init__(self, facts: dict[str, str], **play_vars: Any) -> None:
        variables: dict[str, Any] = dict(load("defaults/main.yml"))
        variables.update(PLAY_VARS)
        variables.update(play_vars)
        variables.update(load("vars/main.yml"))
        variables.update(load(f"vars/{facts['distribution']}.yml"))
        variables.update({"ansible_facts": facts, "ansible_check_mode": False, "ansible_managed": "Ansible managed"})
        self.variables = variables
        self.templar = Templar(loader=LOADER, variables=variables)

    def var(self, name: str) -> Any:
        return self.templar.template(self.variables[name])

    def render(self, value: Any, **extra: Any) -> Any:
        templar = self.templar.copy_with_new_env(available_variables={**self.variables, **extra}) if extra \
            else self.templar
        return templar.template(value)

    def when(self, item: dict[str, Any], **extra: Any) -> bool:
        conditions = item.get("when", [])
        templar = self.templar.copy_with_new_env(available_variables={**self.variables, **extra})
        return all(templar.evaluate_conditional(c if isinstance(c, bool) else trust_as_template(c))
                   for c in (conditions if isinstance(conditions, list) else [conditions]))

    def asserts(self, item: dict[str, Any], **extra: Any) -> list[bool]:
        """Each `that` of an assert task, evaluated (with the task's own vars)."""
        local = {**self.variables, **item.get("vars", {}), **extra}
        templar = self.templar.copy_with_new_env(available_variables=local)
        that = item["ansible.builtin.assert"]["that"]
        return [templar.evaluate_conditional(trust_as_template(c)) for c in ([that] if isinstance(that, str) else that)]

    def template_file(self, name: str, **extra: Any) -> str:
        text = trust_as_template((ROLE / "templates" / name).read_text())
        templar = self.templar.copy_with_new_env(available_variables={**self.variables, **extra})
        return templar.template(text, escape_backslashes=False, overrides={"trim_blocks": True})


@pytest.fixture
def noble() -> Role:
    return Role(NOBLE)


@pytest.fixture
def noble_source() -> Role:
    return Role(NOBLE, postgres_age_age_install="source")


# --- Ubuntu 24.04: PostgreSQL 16, pgvector and AGE from PGDG ------------------------------------------------


def test_ubuntu_defaults_to_postgresql_16_from_pgdg(noble: Role) -> None:
    assert noble.var("_postgres_age_version") == "16"
    assert noble.var("_postgres_age_source") == "pgdg"
    assert noble.var("_postgres_age_packages") == [
        "postgresql-16", "postgresql-16-pgvector", "python3-psycopg", "postgresql-16-age", "acl"]
    assert noble.var("_postgres_age_unit") == "postgresql@16-main.service"
    assert noble.var("_postgres_age_dropin") == "/etc/postgresql/16/main/conf.d/50-postgres-age.conf"


def test_ubuntu_adds_the_pgdg_repository_with_its_signing_key(noble: Role) -> None:
    assert noble.when(task("tasks/install.yml", "Add the PostgreSQL project's apt repository"))
    key = task("tasks/pgdg.yml", "Download the PGDG signing key")["ansible.builtin.get_url"]
    assert noble.render(key["url"]) == "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
    assert noble.render(key["dest"]) == "/etc/apt/keyrings/postgresql-pgdg.asc"
    assert key["force"] is False  # downloaded once; re-runs need no network
    keydir = task("tasks/pgdg.yml", "Create the directory for apt signing keys")["ansible.builtin.file"]
    assert noble.render(keydir["path"]) == "/etc/apt/keyrings"
    repo = task("tasks/pgdg.yml", "Add the PGDG repository")["ansible.builtin.apt_repository"]
    assert noble.render(repo["repo"]) == (
        "deb [signed-by=/etc/apt/keyrings/postgresql-pgdg.asc] https://apt.postgresql.org/pub/repos/apt "
        "noble-pgdg main")
    assert repo["update_cache"] is False  # the install step refreshes the lists when packages are missing


def test_ubuntu_installs_the_packages_refreshing_the_cache_only_when_some_are_missing(noble: Role) -> None:
    install = task("tasks/install.yml", "Install PostgreSQL, pgvector")["ansible.builtin.apt"]
    assert noble.render(install["name"]) == noble.var("_postgres_age_packages")
    assert install["state"] == "present"
    assert noble.render(install["update_cache"], _postgres_age_missing=["postgresql-16-age"]) is True
    assert noble.render(install["update_cache"], _postgres_age_missing=[]) is False
    missing = task("tasks/install.yml", "List the packages that are missing")["ansible.builtin.set_fact"]
    installed = {"postgresql-16": [{}], "python3-psycopg": [{}], "acl": [{}]}
    assert noble.render(missing["_postgres_age_missing"], ansible_facts={**NOBLE, "packages": installed}) == [
        "postgresql-16-pgvector", "postgresql-16-age"]


def test_ubuntu_package_mode_builds_nothing(noble: Role) -> None:
    assert not noble.when(task("tasks/install.yml", "Build and install Apache AGE from source"))


# --- Ubuntu 24.04, AGE built from source (postgres_age_age_install=source) ------------------------------------


def test_source_mode_installs_the_build_dependencies_instead_of_the_age_package(noble_source: Role) -> None:
    packages = noble_source.var("_postgres_age_packages")
    assert packages[:3] == ["postgresql-16", "postgresql-16-pgvector", "python3-psycopg"]
    assert {"postgresql-server-dev-16", "build-essential", "libreadline-dev", "zlib1g-dev", "flex", "bison",
            "git"} <= set(packages)
    assert "postgresql-16-age" not in packages
    assert noble_source.when(task("tasks/install.yml", "Build and install Apache AGE from source"))


def test_source_mode_builds_the_pg16_release_tag_guarded_by_creates(noble_source: Role) -> None:
    r = noble_source
    src = "/usr/local/src/apache-age-PG16-v1.5.0-rc0"
    marker = "/usr/share/postgresql/16/extension/age--1.5.0.sql"
    probe = task("tasks/age_source.yml", "Check whether the extension script")["ansible.builtin.stat"]
    assert r.render(probe["path"]) == marker
    block = task("tasks/age_source.yml", "Build Apache AGE when it is missing")
    assert r.when(block, _postgres_age_age_present={"stat": {"exists": False}})
    assert not r.when(block, _postgres_age_age_present={"stat": {"exists": True}})
    git = task("tasks/age_source.yml", "Fetch the Apache AGE source")["ansible.builtin.git"]
    assert r.render(git) == {"repo": "https://github.com/apache/age.git", "dest": src,
                             "version": "PG16/v1.5.0-rc0", "depth": 1, "force": False}
    build = task("tasks/age_source.yml", "Compile Apache AGE")["ansible.builtin.command"]
    assert r.render(build) == {"argv": ["make", "-C", src, "PG_CONFIG=/usr/lib/postgresql/16/bin/pg_config"],
                               "creates": f"{src}/age.so"}
    install = task("tasks/age_source.yml", "Install Apache AGE into")["ansible.builtin.command"]
    assert r.render(install) == {
        "argv": ["make", "-C", src, "PG_CONFIG=/usr/lib/postgresql/16/bin/pg_config", "install"], "creates": marker}


def test_source_ref_follows_the_major_and_can_be_pinned() -> None:
    assert Role(NOBLE, postgres_age_version="17").var("_postgres_age_source_ref") == "PG17/v1.5.0-rc0"
    pinned = Role(NOBLE, postgres_age_age_source_ref="PG16/v1.6.0-rc0", postgres_age_age_source_version="1.6.0")
    assert pinned.var("_postgres_age_source_dir") == "/usr/local/src/apache-age-PG16-v1.6.0-rc0"
    assert pinned.var("_postgres_age_source_installed") == "/usr/share/postgresql/16/extension/age--1.6.0.sql"


# --- Debian 13: its own archive, nothing fetched --------------------------------------------------------------


def test_debian_trixie_uses_its_own_postgresql_17_packages_without_pgdg() -> None:
    trixie = Role(TRIXIE)
    assert trixie.var("_postgres_age_version") == "17"
    assert trixie.var("_postgres_age_source") == "distribution"
    assert trixie.var("_postgres_age_packages") == [
        "postgresql-17", "postgresql-17-pgvector", "python3-psycopg", "postgresql-17-age"]
    assert not trixie.when(task("tasks/install.yml", "Add the PostgreSQL project's apt repository"))


# --- Preflight: bad input is refused, naming the variable -----------------------------------------------------


VERSION_CHECK = "Check the PostgreSQL major version and package source"


@pytest.mark.parametrize("facts, play_vars, ok", [
    (NOBLE, {}, True),
    (NOBLE, {"postgres_age_version": "15"}, True),
    (NOBLE, {"postgres_age_version": "13"}, False),
    (NOBLE, {"postgres_age_package_source": "distribution"}, False),  # noble's archive has no AGE
    (TRIXIE, {}, True),
    (TRIXIE, {"postgres_age_version": "16"}, False),
    (TRIXIE, {"postgres_age_version": "16", "postgres_age_package_source": "pgdg"}, True),
    (BOOKWORM, {}, False),
    (BOOKWORM, {"postgres_age_package_source": "pgdg"}, True),
])
def test_version_and_source_are_checked(facts: dict[str, str], play_vars: dict[str, Any], ok: bool) -> None:
    role = Role(facts, **play_vars)
    check = task("tasks/preflight.yml", VERSION_CHECK)
    assert all(role.asserts(check)) is ok
    message = role.render(check["ansible.builtin.assert"]["fail_msg"])
    assert "postgres_age_version=" in message and "postgres_age_package_source=" in message


@pytest.mark.parametrize("check, play_vars, variable", [
    ("Check the listen address", {"private_ip": ""}, "postgres_age_listen_address"),
    ("Check the listen address", {"postgres_age_listen_address": "0.0.0.0"}, "postgres_age_listen_address"),
    ("Check the allowed networks", {"postgres_age_allowed_cidrs": []}, "postgres_age_allowed_cidrs"),
    ("Check the allowed networks", {"postgres_age_allowed_cidrs": ["0.0.0.0/0"]}, "postgres_age_allowed_cidrs"),
    ("Check the allowed networks", {"postgres_age_allowed_cidrs": ["10.0.0.1"]}, "postgres_age_allowed_cidrs"),
    ("Check the names", {"postgres_age_graph": "kg"}, "postgres_age_graph"),
    ("Check the names", {"postgres_age_databases": ["ai-memory"]}, "postgres_age_databases"),
    ("Check the names", {"postgres_age_role": "postgres"}, "postgres_age_role"),
    ("Check the authentication", {"postgres_age_cert_common_names": []}, "postgres_age_cert_common_names"),
    ("Check the authentication", {"postgres_age_ca_src": ""}, "postgres_age_ca_src"),
    ("Check the authentication", {"postgres_age_tls_key_src": ""}, "postgres_age_tls_key_src"),
    ("Check the authentication", {"postgres_age_auth": "scram-sha-256"}, "postgres_age_password"),
])
def test_bad_input_is_refused_naming_the_variable(
        noble: Role, check: str, play_vars: dict[str, Any], variable: str) -> None:
    item = task("tasks/preflight.yml", check)
    assert all(noble.asserts(item)), "the campaign's variables must pass"
    bad = Role(NOBLE, **play_vars)
    assert not all(bad.asserts(item))
    assert variable in bad.render(item["ansible.builtin.assert"]["fail_msg"], **item.get("vars", {}))


def test_scram_mode_needs_no_client_ca_or_names() -> None:
    role = Role(NOBLE, postgres_age_auth="scram-sha-256", postgres_age_password="s3cret-password",
                postgres_age_ca_src="", postgres_age_cert_common_names=[])
    assert all(role.asserts(task("tasks/preflight.yml", "Check the authentication")))


# --- Configuration files ----------------------------------------------------------------------------------------


def test_dropin_listens_on_localhost_and_the_private_address_with_tls(noble: Role) -> None:
    settings = {"max_connections": 200, "log_connections": True, "shared_buffers": "1GB"}
    conf = noble.template_file("postgres-age.conf.j2", postgres_age_settings=settings)
    lines = [line for line in conf.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "listen_addresses = 'localhost,10.108.0.5'",
        "port = 5432",
        "ssl = on",
        "ssl_cert_file = '/etc/postgresql/16/main/tls/server.pem'",
        "ssl_key_file = '/etc/postgresql/16/main/tls/server.key'",
        "ssl_ca_file = '/etc/postgresql/16/main/tls/ca.pem'",
        "ssl_min_protocol_version = 'TLSv1.2'",
        "password_encryption = 'scram-sha-256'",
        "log_connections = on",
        "max_connections = 200",
        "shared_buffers = '1GB'",
    ]


def rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_pg_hba_takes_client_certificates_over_tls_from_the_cidrs_and_rejects_the_rest() -> None:
    role = Role(NOBLE, postgres_age_databases=["ai_memory", "ai_memory_phase3"],
                postgres_age_allowed_cidrs=["10.108.0.0/20", "10.109.0.0/20"])
    assert rules(role.template_file("pg_hba.conf.j2")) == [
        ["local", "all", "postgres", "peer"],
        ["hostssl", "ai_memory,ai_memory_phase3", "ai_memory", "10.108.0.0/20", "cert", "clientcert=verify-full",
         "map=ai_memory"],
        ["hostssl", "ai_memory,ai_memory_phase3", "ai_memory", "10.109.0.0/20", "cert", "clientcert=verify-full",
         "map=ai_memory"],
        ["host", "all", "all", "0.0.0.0/0", "reject"],
        ["host", "all", "all", "::/0", "reject"],
    ]
    assert rules(role.template_file("pg_ident.conf.j2")) == [["ai_memory", '"pg"', "ai_memory"]]


def test_pg_hba_in_scram_mode_takes_a_password_over_tls_only() -> None:
    role = Role(NOBLE, postgres_age_auth="scram-sha-256", postgres_age_password="s3cret-password")
    hba = rules(role.template_file("pg_hba.conf.j2"))
    assert ["hostssl", "ai_memory", "ai_memory", "10.108.0.0/20", "scram-sha-256"] in hba
    assert not [r for r in hba if r[0] in ("host", "hostnossl") and r[-1] != "reject"]
    assert rules(role.template_file("pg_ident.conf.j2")) == []


# --- Secrets and naming -----------------------------------------------------------------------------------------


def all_tasks() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for item in tasks_of(f"tasks/{path.name}"):
            yield path.name, item
    for item in load("handlers/main.yml"):
        yield "handlers/main.yml", item


def fqcn_module(item: dict[str, Any]) -> str:
    return next((key for key in item if key.startswith(("ansible.", "community."))), "")


def test_every_task_is_named_and_secrets_are_not_logged() -> None:
    for where, item in all_tasks():
        assert item.get("name"), f"{where}: unnamed task {item}"
        if "block" not in item:
            assert fqcn_module(item), f"{where}: {item['name']} does not use a fully qualified module name"
    key = task("tasks/configure.yml", "Install the server private key")
    assert key["no_log"] is True and key["ansible.builtin.copy"]["mode"] == "0600"
    assert task("tasks/databases.yml", "Create the login role")["no_log"] is True
