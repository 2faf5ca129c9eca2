"""The [shopify] settings: defaults, checks with the key's name, the token as a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from memberkit.config import load_settings
from memberkit.errors import ConfigError


def test_defaults_name_a_supported_version_and_the_file_push(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    assert settings.shopify.api_version == "2026-10"
    assert settings.shopify.base_url == "https://{shop}"
    assert settings.shopify.push_mode == "file"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("SHOP", "alpkit.com", "NAME.myshopify.com"),
        ("API_VERSION", "2026-11", "quarterly"),
        ("CURRENCY", "pounds", "ISO 4217"),
        ("PUSH_MODE", "ftp", "one of"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(key: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        load_settings(environ={f"MEMBERKIT_SHOPIFY__{key}": value})
    assert f"shopify.{key.lower()}" in str(caught.value)


def test_the_token_comes_from_the_env_file_masked(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "api.env").write_text("SHOPIFY_ACCESS_TOKEN=shpat_abcdef123456\n")
    (tmp_path / "memberkit.toml").write_text('[shopify]\nshop = "alp.myshopify.com"\n')
    settings = load_settings(tmp_path / "memberkit.toml", environ={})
    token = settings.secret("SHOPIFY_ACCESS_TOKEN")
    assert token is not None and token.reveal() == "shpat_abcdef123456"
    assert "shpat" not in repr(token)
    assert settings.shopify.shop == "alp.myshopify.com"
