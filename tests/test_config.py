"""Settings: precedence, path resolution, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from memberkit.cli.errors import exit_code_for
from memberkit.config import load_settings, read_secret
from memberkit.errors import ConfigError


def write_config(folder: Path, text: str) -> Path:
    path = folder / "memberkit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_without_a_config_file(workdir: Path) -> None:
    settings = load_settings(None, environ={})
    assert settings.config_path is None
    assert settings.output.filename_pattern == "customers_%s.xlsx"
    assert settings.klaviyo_upload.chunk_size == 5000
    assert settings.processing.timezone == "Europe/London"
    assert settings.codes.available_key == "discountcodes_2021"
    assert settings.input.customers_csv == workdir / "input/customers_export.csv"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[output]\ndirectory = "out"\n')
    settings = load_settings(path, environ={})
    assert settings.output.directory == tmp_path / "out"
    assert settings.database.url == f"sqlite:///{tmp_path}/memberkit.db"


def test_environment_beats_file_and_flags_beat_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[log]\nlevel = "ERROR"\n[processing]\ntimezone = "UTC"\n')
    env = {"MEMBERKIT_LOG__LEVEL": "debug", "MEMBERKIT_PROCESSING__TIMEZONE": "Europe/Paris"}
    settings = load_settings(path, environ=env, overrides={"processing.timezone": "Asia/Tokyo"})
    assert settings.log.level == "DEBUG"
    assert settings.processing.timezone == "Asia/Tokyo"


def test_test_variables_are_not_settings(tmp_path: Path) -> None:
    load_settings(None, environ={"MEMBERKIT_TEST_DATABASE_URL": "postgresql://x"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[klaviyo]\nsegmnt_id = 'X'\n",
            "unknown key klaviyo.segmnt_id; did you mean 'klaviyo.segment_id'?",
        ),
        (
            "[klaviyo_uplod]\nenabled = true\n",
            "unknown section [klaviyo_uplod]; did you mean 'klaviyo_upload'?",
        ),
        ("[klaviyo_upload]\nchunk_size = '5000'\n", "klaviyo_upload.chunk_size must be an integer"),
        (
            "[klaviyo_upload]\nchunk_size = 20000\n",
            "klaviyo_upload.chunk_size must be at most 10000",
        ),
        ("[processing]\ntimezone = 'Europe/Londn'\n", "unknown time zone 'Europe/Londn'"),
        ("[log]\nlevel = 'LOUD'\n", "log.level must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
        (
            "[input]\nencoding = 'latin-1'\n",
            "input.encoding must be one of 'auto', 'utf-8', 'cp1252'",
        ),
        ("[output\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(path) in str(err.value)
    assert expected in str(err.value)
    assert exit_code_for(err.value) == 2


def test_unknown_environment_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MEMBERKIT_LOG__LEVLE: unknown setting"):
        load_settings(None, environ={"MEMBERKIT_LOG__LEVLE": "DEBUG"})


def test_missing_explicit_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_secret_comes_from_environment_then_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "api.env"
    env_file.write_text("# keys\nexport KLAVIYO_PRIVATE_KEY='pk_file'\n", encoding="utf-8")
    from_file = read_secret("KLAVIYO_PRIVATE_KEY", env_file, environ={})
    assert from_file is not None and from_file.reveal() == "pk_file"
    assert "pk_file" not in repr(from_file) and "pk_file" not in str(from_file)
    from_env = read_secret(
        "KLAVIYO_PRIVATE_KEY", env_file, environ={"KLAVIYO_PRIVATE_KEY": "pk_env"}
    )
    assert from_env is not None and from_env.reveal() == "pk_env"
    assert read_secret("KLAVIYO_PRIVATE_KEY", tmp_path / "none.env", environ={}) is None


def test_klaviyo_property_names_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    """Issue 8.11: a store names its properties; "" leaves one out."""
    path = write_config(
        tmp_path, '[klaviyo_properties]\nhas_dividends = "has_rewards"\naccount_state = ""\n'
    )
    env = {"MEMBERKIT_KLAVIYO_PROPERTIES__MEMBER_SINCE": "joined_on"}
    names = load_settings(path, environ=env).klaviyo_properties.property_map
    assert names.columns == (
        "Email", "has_rewards", "discount_code", "discount_value", "min_spend",
        "multiple_codes", "number_of_codes", "balance", "joined_on",
    )  # fmt: skip


def test_the_default_property_names_are_todays(workdir: Path) -> None:
    from memberkit.domain.max_value import CSV_COLUMNS

    assert load_settings(None, environ={}).klaviyo_properties.property_map.columns == CSV_COLUMNS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[klaviyo_properties]\nbalance = "discount_code"\n',
            "klaviyo_properties.balance: property name 'discount_code' is already the name "
            "of discount_code",
        ),
        ("[klaviyo_properties]\nbalanse = 'b'\n", "did you mean 'klaviyo_properties.balance'?"),
    ],
)
def test_an_unusable_property_name_is_a_config_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, text), environ={})
    assert expected in info.value.message
    assert exit_code_for(info.value) == 2


def test_the_init_template_documents_every_property_with_its_default() -> None:
    import tomllib
    from importlib.resources import files

    from memberkit.domain.max_value import DEFAULT_NAMES

    template = tomllib.loads(
        files("memberkit").joinpath("templates/memberkit.toml").read_text(encoding="utf-8")
    )
    assert template["klaviyo_properties"] == DEFAULT_NAMES
