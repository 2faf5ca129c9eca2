"""``[earning]`` and ``[[rewards.catalogue]]`` settings: types, Decimals, checks with the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from memberkit.config import RewardDefinition, load_settings
from memberkit.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "memberkit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_earning_settings_are_read_as_decimals_lists_and_tables(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            '[earning]\npoints_per_unit = 1.5\nmin_subtotal = "10.00"\n'
            'tier_multipliers = { Gold = 2, Silver = "1.25" }\n'
            'excluded_tags = ["wholesale"]\npending_days = 0\n',
        ),
        environ={},
    )
    earning = settings.earning
    assert earning.points_per_unit == Decimal("1.5")
    assert earning.min_subtotal == Decimal("10.00")
    assert earning.tier_multipliers == {"Gold": Decimal(2), "Silver": Decimal("1.25")}
    assert earning.excluded_tags == ("wholesale",) and earning.pending_days == 0


def test_earning_settings_come_from_the_environment_too(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        environ={
            "MEMBERKIT_EARNING__EXCLUDED_CODES": "STAFF, TEST",
            "MEMBERKIT_EARNING__TIER_MULTIPLIERS": '{"Gold": "1.5"}',
        },
    )
    assert settings.earning.excluded_codes == ("STAFF", "TEST")
    assert settings.earning.tier_multipliers == {"Gold": Decimal("1.5")}


def test_the_catalogue_is_an_array_of_tables(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            '[[rewards.catalogue]]\nname = "5 off"\npoints_cost = 500\n'
            'value_type = "fixed_amount"\nvalue = "5.00"\nmin_spend = "25"\n'
            '[[rewards.catalogue]]\nname = "10%"\npoints_cost = 900\n'
            'value_type = "percentage"\nvalue = 10\nvalidity_days = 30\ncode_prefix = "PCT"\n',
        ),
        environ={},
    )
    assert settings.rewards.catalogue == (
        RewardDefinition("5 off", 500, "fixed_amount", Decimal("5.00"), Decimal("25")),
        RewardDefinition("10%", 900, "percentage", Decimal(10), None, 30, "PCT"),
    )
    assert settings.rewards.find("5 OFF") == settings.rewards.catalogue[0]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('name = "a"\npoints_cost = 5\nvalue_type = "fixed"\nvalue = 1', "value_type must be"),
        ('name = "a"\npoints_cost = 5\nvalue_type = "percentage"\nvalue = 150', "at most 100"),
        ('name = "a"\npoints_cost = 0\nvalue_type = "percentage"\nvalue = 5', "points_cost"),
        (
            'name = "a"\npoints_cost = 5\nvalue_type = "percentage"\nvalu = 5',
            "did you mean 'value'",
        ),
        ('name = "a"\npoints_cost = 5\nvalue_type = "percentage"', "value is missing"),
        (
            'name = "a"\npoints_cost = 5\nvalue_type = "percentage"\nvalue = 5\n'
            'code_prefix = "A B"',
            "code_prefix",
        ),
    ],
)
def test_a_bad_reward_is_refused_naming_the_key(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, f"[[rewards.catalogue]]\n{table}\n"), environ={})


def test_a_negative_multiplier_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"earning\.tier_multipliers must be a number of 0 or more"
    ):
        load_settings(write(tmp_path, "[earning]\ntier_multipliers = { Gold = -1 }\n"), environ={})


def test_the_init_template_loads_with_its_earning_section() -> None:
    template = Path(__file__).parents[2] / "src/memberkit/templates/memberkit.toml"
    settings = load_settings(template, environ={})
    assert settings.earning.excluded_tags == ("wholesale",)
