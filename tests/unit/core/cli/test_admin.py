"""core.cli: the `crowdnest` command run through main(argv) against the test database."""

import io
import re
import time

import pytest
from sqlalchemy import select

from core.cli import main
from core.models import TaskRequest, TaskReservation, User
from core.passwords import verify_password
from tests.factories import TaskFactory, UserFactory

API_KEY = re.compile(r"api key: ([0-9a-f-]{36})")


def _write_ini(path, url: str, schedulers: str = "default") -> str:
    path.write_text(
        "[app:main]\n"
        "use = egg:crowdnest\n"
        f"sqlalchemy.url = {url}\n"
        f"plugins.schedulers = {schedulers}\n"
    )
    return str(path)


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch):
    for variable in ("CROWDNEST_SQLALCHEMY_URL", "CROWDNEST_PLUGINS_SCHEDULERS"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def ini(tmp_path, database_url, db):
    """An .ini pointing at the test database, emptied after the test by the `db` fixture."""
    return _write_ini(tmp_path / "test.ini", database_url)


@pytest.fixture
def run(capsys):
    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_db_upgrade_brings_a_new_database_to_head(run, tmp_path):
    config = _write_ini(tmp_path / "fresh.ini", f"sqlite:///{tmp_path}/var/fresh.sqlite")

    code, out, _ = run("-c", config, "db", "upgrade")
    again, out_again, _ = run("-c", config, "db", "upgrade")

    assert code == 0 and again == 0
    assert "Running upgrade  -> 0001" in out
    assert "database at revision" in out
    assert "nothing to apply" in out_again


def test_db_upgrade_on_the_test_database_is_a_no_op(run, ini):
    code, out, _ = run("-c", ini, "db", "upgrade")

    assert code == 0
    assert "nothing to apply" in out


def test_user_create_admin_prints_the_api_key(run, ini, db):
    code, out, _ = run(
        "-c",
        ini,
        "user",
        "create",
        "ada",
        "ada@example.com",
        "--admin",
        "--fullname",
        "Ada Lovelace",
        "--password",
        "engine",
    )

    assert code == 0
    user = db.scalars(select(User).where(User.name == "ada")).one()
    assert API_KEY.search(out).group(1) == user.api_key
    assert user.admin is True
    assert user.fullname == "Ada Lovelace"
    assert verify_password(user.passwd_hash, "engine")


def test_user_create_refuses_a_duplicate_name(run, ini, db):
    UserFactory(name="ada")

    code, out, err = run(
        "-c", ini, "user", "create", "ada", "other@example.com", "--password", "x"
    )

    assert code == 1
    assert err.strip() == "crowdnest: error: a user with the name 'ada' already exists"
    assert "Traceback" not in err and "api key" not in out


def test_user_create_refuses_a_duplicate_email_whatever_its_case(run, ini, db):
    UserFactory(name="ada", email_addr="ada@example.com")

    code, _, err = run("-c", ini, "user", "create", "ada2", "ADA@example.com", "--password", "x")

    assert code == 1
    assert "email 'ADA@example.com' already exists" in err


def test_user_create_reads_the_password_from_stdin(run, ini, db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("from-a-pipe\n"))

    code, _, _ = run("-c", ini, "user", "create", "bob", "bob@example.com", "--password-stdin")

    assert code == 0
    user = db.scalars(select(User).where(User.name == "bob")).one()
    assert user.admin is False
    assert verify_password(user.passwd_hash, "from-a-pipe")


def test_user_create_without_a_terminal_asks_for_password_stdin(run, ini, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    code, _, err = run("-c", ini, "user", "create", "bob", "bob@example.com")

    assert code == 1
    assert "--password-stdin" in err


def _reloaded(db, user):
    # End the test session's transaction (if any) and forget its copies, to see the commit.
    db.rollback()
    db.expire_all()
    return db.get(User, user.id)


def test_user_list_shows_every_account(run, ini):
    UserFactory(name="carol", email_addr="carol@example.com", admin=True)
    UserFactory(name="dave")

    code, out, _ = run("-c", ini, "user", "list")

    assert code == 0
    assert re.search(r"carol\s+carol@example\.com\s+yes$", out, re.MULTILINE)
    assert re.search(r"dave\s+\S+\s+no$", out, re.MULTILINE)


def test_user_admin_on_and_off(run, ini, db):
    user = UserFactory(name="carol", admin=False)

    promoted = run("-c", ini, "user", "admin", "carol", "--on")
    assert promoted[0] == 0 and _reloaded(db, user).admin is True
    demoted = run("-c", ini, "user", "admin", "carol", "--off")
    assert demoted[0] == 0 and _reloaded(db, user).admin is False


def test_user_reset_api_key_prints_the_new_key(run, ini, db):
    user = UserFactory(name="carol")
    old_key = user.api_key

    code, out, _ = run("-c", ini, "user", "reset-api-key", "carol")

    new_key = _reloaded(db, user).api_key
    assert code == 0
    assert new_key != old_key
    assert out.strip() == f"new api key for 'carol': {new_key}"


def test_unknown_user_is_a_clear_error(run, ini):
    code, _, err = run("-c", ini, "user", "reset-api-key", "nobody")

    assert code == 1
    assert err.strip() == "crowdnest: error: no user named 'nobody'"


def test_plugins_lists_default_as_enabled(run, ini):
    code, out, _ = run("-c", ini, "plugins")

    assert code == 0
    assert re.search(
        r"^  default\s+enabled\s+plugins\.schedulers\.depth_first$", out, re.MULTILINE
    )
    assert "importers" in out and "webhooks" in out


def test_plugins_flags_a_listed_name_that_is_not_installed(run, tmp_path, monkeypatch):
    config = _write_ini(tmp_path / "p.ini", "sqlite://")
    monkeypatch.setenv("CROWDNEST_PLUGINS_SCHEDULERS", "default not-installed")

    code, out, _ = run("-c", config, "plugins")

    assert code == 1
    assert re.search(r"^  not-installed\s+MISSING", out, re.MULTILINE)


def test_guard_purge_deletes_only_expired_hand_outs(run, ini, db):
    task = TaskFactory()
    for participant, expires in (("user:1", time.time() - 10), ("user:2", time.time() + 600)):
        db.add(
            TaskRequest(
                task_id=task.id,
                participant=participant,
                project_id=task.project_id,
                created="2024-01-01T00:00:00",
                expires=expires,
            )
        )
    db.commit()

    code, out, _ = run("-c", ini, "guard", "purge")

    assert code == 0
    assert "purged 1 " in out
    assert db.scalars(select(TaskRequest.participant)).all() == ["user:2"]


def test_guard_purge_purges_what_the_enabled_schedulers_gates_keep(
    run, tmp_path, database_url, db
):
    # locked's expired reservations go through its AnswerGate.purge; core never names it.
    task = TaskFactory()
    for participant, expires in (("user:1", time.time() - 10), ("user:2", time.time() + 600)):
        db.add(
            TaskReservation(
                task_id=task.id,
                participant=participant,
                project_id=task.project_id,
                expires=expires,
            )
        )
    db.commit()
    without = _write_ini(tmp_path / "default.ini", database_url)
    with_locked = _write_ini(tmp_path / "locked.ini", database_url, "default locked")

    _, kept, _ = run("-c", without, "guard", "purge")
    code, out, _ = run("-c", with_locked, "guard", "purge")

    assert "and 0 expired reservation(s)" in kept
    assert code == 0 and "and 1 expired reservation(s)" in out
    db.expire_all()
    assert db.scalars(select(TaskReservation.participant)).all() == ["user:2"]


def test_missing_config_file_is_a_clear_error(run, tmp_path):
    code, _, err = run("-c", str(tmp_path / "nope.ini"), "plugins")

    assert code == 1
    assert "nope.ini" in err and "-c/--config" in err


def test_database_without_schema_is_a_clear_error(run, tmp_path):
    config = _write_ini(tmp_path / "empty.ini", f"sqlite:///{tmp_path}/empty.sqlite")

    code, _, err = run("-c", config, "user", "list")

    assert code == 1
    assert "crowdnest: database error: no such table" in err
    assert "crowdnest db upgrade" in err


def test_environment_overrides_the_ini_database(run, tmp_path, monkeypatch):
    config = _write_ini(tmp_path / "env.ini", f"sqlite:///{tmp_path}/ini.sqlite")
    monkeypatch.setenv("CROWDNEST_SQLALCHEMY_URL", f"sqlite:///{tmp_path}/env/env.sqlite")

    code, out, _ = run("-c", config, "db", "upgrade")

    assert code == 0
    assert "env.sqlite" in out
    assert (tmp_path / "env" / "env.sqlite").exists()
    assert not (tmp_path / "ini.sqlite").exists()


def test_cache_clear_bumps_every_table_generation(
    run, tmp_path, database_url, redis_client, redis_url
):
    path = tmp_path / "cache.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:crowdnest\n"
        f"sqlalchemy.url = {database_url}\n"
        f"redis.url = {redis_url}\n"
        "cache.backend = dogpile.cache.redis\n"
    )
    redis_client.set("crowdnest:gen:task", 4)

    code, out, _ = run("-c", str(path), "cache", "clear")

    assert code == 0
    assert "forgotten" in out
    assert int(redis_client.get("crowdnest:gen:task")) == 5
    assert int(redis_client.get("crowdnest:gen:task_run")) == 1
    assert redis_client.keys("crowdnest:cache:generation:*")
