"""Every setting is checked when a command starts (issue 25, items 3 and 4): a wrong value, or a
misspelt `WATCHER_*` name, is one line and exit 1, before anything is served or polled; `.env` is
read by the program, and the `.env.example` that `watcher init` writes is valid shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli.environment import setting_names, unknown_names
from watcher.cli.firstrun import __file__ as firstrun_file
from watcher.cli.main import main
from watcher.settings import load_settings

BAD = [
    ("WATCHER_TRUSTED_PROXIES", "abc", "'abc' is not an IP address or network"),
    ("WATCHER_SMTP_URL", "mail.example.org", "scheme '' is not one of smtp://"),
    ("WATCHER_SMTP_URL", "smtp://", "no host"),
    ("WATCHER_SUBSCRIBE_PER_CLIENT", "-3", "=-3: must be 1 or more"),
    ("WATCHER_SUBSCRIBE_PER_ADDRESS", "0", "=0: must be 1 or more"),
    ("WATCHER_SUBSCRIBE_MAILS_PER_HOUR", "many", "must be a whole number"),
    ("WATCHER_SUBSCRIBE_TOKEN_HOURS", "0", "must be more than 0"),
    ("WATCHER_MAIL_FROM", "not an address", "not an e-mail address"),
    ("WATCHER_MAINTAINERS", "bob", "each item must be an e-mail address"),
    ("WATCHER_MAINTAINER_FAILURES", "0", "=0: must be 1 or more"),
    ("WATCHER_SMTP_TIMEOUT", "-5", "must be more than 0"),
    ("WATCHER_DOCUMENTS", "maybe", "=maybe: must be true or false"),
    ("WATCHER_DOCUMENTS_MAX_BYTES", "-1", "must be more than 0"),
    ("WATCHER_FETCH_ALLOW", "xyz", "'xyz' is not an IP address or network"),
    ("WATCHER_SECRET_KEY", "short", "is too short"),
    ("WATCHER_HTTP_RETRIES", "-1", "must be 0 or more"),
    ("WATCHER_BASE_URL", "watcher.example", "must start with http:// or https://"),
    (
        "WATCHER_SMTP_ULR",
        "smtp://mail",
        "is not a setting of detention-watcher; did you mean WATCHER_SMTP_URL?",
    ),
    ("WATCHER_TRUSTED_PROXY", "10.0.0.1", "did you mean WATCHER_TRUSTED_PROXIES?"),
]


@pytest.mark.parametrize("command", [["serve", "--no-scheduler", "--port", "1"], ["run", "--once"]])
@pytest.mark.parametrize(("variable", "value", "words"), BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
def test_each_bad_setting_is_refused_at_start_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    variable: str,
    value: str,
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"WATCHER_SOURCES": str(tmp_path / "none.yaml"), variable: value}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: environment: {variable}")
    assert words in line
    assert "Traceback" not in result.output


def test_a_command_help_is_shown_whatever_the_settings(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], env={"WATCHER_SMTP_ULR": "x"})
    assert result.exit_code == 0 and "Usage:" in result.output


def test_every_wrong_setting_is_listed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"WATCHER_MAINTAINERS": "bob", "WATCHER_FETCH_ALLOW": "xyz", "WATCHER_SMPT_URL": "x"}
    result = CliRunner().invoke(main, ["run", "--once"], env=env)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 3


def test_misspelt_names_point_at_the_closest_setting() -> None:
    assert "WATCHER_SMTP_URL" in setting_names() and "WATCHER_DOCUMENTS" in setting_names()
    assert unknown_names({"WATCHER_DATABSE_URL": "x", "PATH": "/bin"}) == [
        "environment: WATCHER_DATABSE_URL is not a setting of detention-watcher; "
        "did you mean WATCHER_DATABASE_URL?"
    ]
    assert unknown_names({"WATCHER_TEST_DATABASE_URL": "x"}) == []
    [far] = unknown_names({"WATCHER_ZZZ": "1"})
    assert far.endswith("see .env.example for the settings")


def test_dot_env_is_read_by_the_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("WATCHER_BASE_URL", "WATCHER_HTTP_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        'WATCHER_BASE_URL="https://veille.example.org"\nWATCHER_HTTP_RETRIES=5\n'
    )
    settings = load_settings()
    assert (settings.base_url, settings.http_retries) == ("https://veille.example.org", 5)
    monkeypatch.setenv("WATCHER_HTTP_RETRIES", "2")  # the environment wins over the file
    assert load_settings().http_retries == 2
    (tmp_path / ".env").write_text("WATCHER_MAINTAINERS=bob\n")
    result = CliRunner().invoke(main, ["run", "--once"])
    assert result.exit_code == 1 and "WATCHER_MAINTAINERS" in result.stderr


def test_env_example_is_valid_shell_and_means_the_same_to_the_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every commented setting switched on: a shell reads every line (none stops it), and the
    program reads the same values from the same file used as `.env`."""
    example = (Path(firstrun_file).parent / "env.example").read_text("utf-8")
    on = "\n".join(
        line.removeprefix("# ") if line.startswith("# WATCHER_") else line
        for line in example.splitlines()
    )
    names = [line.split("=", 1)[0] for line in on.splitlines() if line.startswith("WATCHER_")]
    assert "WATCHER_MAIL_FROM" in names
    (tmp_path / ".env").write_text(on.replace("CHANGE-ME", "s3cret"), "utf-8")
    shell = subprocess.run(
        ["bash", "-c", "set -a; . ./.env; set +a; env"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert shell.stderr == ""
    seen = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
    assert [n for n in names if n not in seen] == []
    assert seen["WATCHER_MAIL_FROM"] == "Veille rétention <alertes@example.org>"
    monkeypatch.chdir(tmp_path)
    for name in names:
        monkeypatch.delenv(name, raising=False)
    from watcher.notify.settings import load_notify_settings  # noqa: PLC0415

    assert load_notify_settings().mail_from == seen["WATCHER_MAIL_FROM"]
    assert load_settings().base_url == seen["WATCHER_BASE_URL"]


def test_a_sqlite_file_in_a_folder_that_does_not_exist_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no" / "such" / "folder"
    env = {"WATCHER_DATABASE_URL": f"sqlite:///{missing}/watcher.sqlite3"}
    result = CliRunner().invoke(main, ["run", "--once"], env=env)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"error: environment: WATCHER_DATABASE_URL: the folder {missing} does not exist"
    )
    assert not missing.exists() and not (tmp_path / "no").exists()


def test_the_default_sender_speaks_french(monkeypatch: pytest.MonkeyPatch) -> None:
    from watcher.notify.settings import NotifySettings  # noqa: PLC0415

    monkeypatch.delenv("WATCHER_MAIL_FROM", raising=False)
    sender = NotifySettings().sender("https://veille.example.org")
    assert sender == "Veille des marchés de la rétention <alerts@veille.example.org>"
