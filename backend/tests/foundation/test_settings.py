from __future__ import annotations

from pathlib import Path

import pytest

from app.config import AppEnv, Settings, SettingsError
from app.connection.urls import UnsupportedDatabaseURL, redacted, to_async_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+psycopg2://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("sqlite:///./data/x.db", "sqlite+aiosqlite:///./data/x.db"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_url_forms_map_to_async_drivers(given: str, expected: str) -> None:
    assert to_async_url(given) == expected
    settings = Settings(_env_file=None, database_url=given, secret_key="k" * 40)
    assert settings.database_url == expected


def test_libpq_query_options_are_translated_for_asyncpg() -> None:
    url = to_async_url("postgresql+psycopg2://u:p@h/db?sslmode=require&connect_timeout=5")
    assert url == "postgresql+asyncpg://u:p@h/db?ssl=require"


@pytest.mark.parametrize(("algorithm", "length"), [("HS256", 31), ("HS384", 47), ("HS512", 63)])
def test_production_key_must_be_as_long_as_the_hash(
    algorithm: str, length: int, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=algorithm):
        Settings(
            _env_file=None,
            app_env=AppEnv.production,
            algorithm=algorithm,
            secret_key="k" * length,
            data_dir=tmp_path,
        )
    ok = Settings(
        _env_file=None,
        app_env=AppEnv.production,
        algorithm=algorithm,
        secret_key="k" * (length + 1),
        data_dir=tmp_path,
    )
    assert ok.algorithm == algorithm


@pytest.mark.parametrize("given", ["mysql://u@h/db", "oracle://x", "not a url"])
def test_unsupported_database_url_is_refused(given: str) -> None:
    with pytest.raises(UnsupportedDatabaseURL):
        to_async_url(given)


def test_redacted_url_hides_the_password() -> None:
    assert "s3cret" not in redacted("postgresql://user:s3cret@db/acehub")


def test_seed_variable_names_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://a:b@h:1/d")
    monkeypatch.setenv("ACE_API_URL", "http://127.0.0.1:8100/")
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.setenv("ALGORITHM", "HS512")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "5")
    monkeypatch.setenv("REFRESH_TOKEN_EXPIRE_DAYS", "2")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1")
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.database_url == "postgresql+asyncpg://a:b@h:1/d"
    assert settings.ace_api_url == "http://127.0.0.1:8100/"
    assert settings.secret_key.get_secret_value() == "s" * 64
    assert settings.algorithm == "HS512"
    assert settings.access_token_expire_minutes == 5
    assert settings.refresh_token_expire_days == 2
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SECRET_KEY=" + "e" * 40 + "\nACCESS_TOKEN_EXPIRE_MINUTES=12\n")
    settings = Settings(_env_file=env, data_dir=tmp_path)
    assert settings.access_token_expire_minutes == 12
    assert settings.secret_key.get_secret_value() == "e" * 40


@pytest.mark.parametrize("secret", ["", "changethis", "your-secret", "short-key"])
def test_production_refuses_missing_placeholder_or_short_secret(
    secret: str, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings(_env_file=None, app_env=AppEnv.production, secret_key=secret, data_dir=tmp_path)


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, app_env=AppEnv.production, secret_key="p" * 32, data_dir=tmp_path
    )
    assert settings.secret_key.get_secret_value() == "p" * 32
    assert settings.json_logs


def test_development_generates_a_secret_once_and_keeps_it(tmp_path: Path) -> None:
    first = Settings(_env_file=None, secret_key="", data_dir=tmp_path)
    second = Settings(_env_file=None, secret_key="", data_dir=tmp_path)
    key = first.secret_key.get_secret_value()
    assert len(key) >= 32
    assert key == second.secret_key.get_secret_value()
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, secret_key="k" * 40, data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'acehub.db'}"
    assert settings.is_sqlite
