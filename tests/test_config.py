"""Configuration from the environment: defaults, and errors that name the bad variable."""

from __future__ import annotations

import pytest

from etl_orchestrator.config import ConfigError, load_settings


def test_defaults_use_sqlite_files_under_the_data_folder(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "ETL_PARALLEL_JOBS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'etl.db'}"
    assert settings.effective_warehouse_url == f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert settings.etl_parallel_jobs == 4
    assert settings.etl_env == "Dev"


@pytest.mark.parametrize("value", ["0", "257", "-3", "four"])
def test_parallel_jobs_out_of_range_names_the_variable_and_range(monkeypatch, value):
    monkeypatch.setenv("ETL_PARALLEL_JOBS", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "ETL_PARALLEL_JOBS" in str(info.value)
    assert "from 1 to 256" in str(info.value)


def test_environment_name_is_checked_and_normalised(monkeypatch):
    monkeypatch.setenv("ETL_ENV", "prod")
    assert load_settings().etl_env == "Prod"
    monkeypatch.setenv("ETL_ENV", "qa")
    with pytest.raises(
        ConfigError, match="ETL_ENV='Qa' is invalid: must be one of Dev, Stage, Prod"
    ):
        load_settings()


def test_jobs_modules_are_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("ETL_JOBS_MODULES", "a.jobs, b.jobs ,")
    assert load_settings().etl_jobs_modules == ("a.jobs", "b.jobs")


def test_trusted_proxies_and_group_roles_are_parsed(monkeypatch):
    import ipaddress

    from etl_orchestrator.config import load_settings

    monkeypatch.setenv("ETL_TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/16,::1")
    monkeypatch.setenv("ETL_PROXY_GROUP_ROLES", "ops=operator, admins=Admin")
    settings = load_settings()
    assert settings.etl_trusted_proxies == (
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("192.168.0.0/16"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.etl_proxy_group_roles == {"ops": "operator", "admins": "admin"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("ETL_TRUSTED_PROXIES", "proxy.local"), ("ETL_PROXY_GROUP_ROLES", "ops=root")],
)
def test_a_bad_proxy_setting_names_the_variable(monkeypatch, name, value):
    from etl_orchestrator.config import ConfigError, load_settings

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()
