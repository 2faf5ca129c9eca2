"""Settings: one typed object built from defaults, a TOML file, the environment and flags.

Precedence, lowest first (``load_settings`` applies them in this order):

1. the defaults written on the dataclasses below;
2. the TOML config file (``./memberkit.toml`` unless ``--config PATH``);
3. environment variables ``MEMBERKIT_<SECTION>__<KEY>`` (e.g. ``MEMBERKIT_LOG__LEVEL=DEBUG``);
4. command-line flags, passed in as ``overrides={"section.key": value}``.

Relative paths in any layer resolve against the config file's folder (the
current directory when there is no config file), so a cron job can run from
anywhere. Unknown keys, wrong types and bad values are ``ConfigError``s naming
the file (or variable), the key and what is wrong, with a "did you mean".

Secrets never live in the config file: ``secret("KLAVIYO_PRIVATE_KEY")`` reads
the environment, then ``config/api.env`` beside the config file, and returns
a ``Secret`` whose ``repr``/``str`` are masked.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memberkit.domain.max_value import DEFAULT_NAMES, PropertyMap, PropertyMapError
from memberkit.errors import ConfigError, ConfigNotFoundError

DEFAULT_CONFIG_NAME = "memberkit.toml"
ENV_PREFIX = "MEMBERKIT_"
SECRETS_FILE = Path("config") / "api.env"

Encoding = Literal["auto", "utf-8", "cp1252"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
FetchMode = Literal["segment", "all"]


@dataclass(frozen=True)
class InputSettings:
    customers_csv: Path = Path("input/customers_export.csv")
    discounts_csv: Path = Path("input/discounts_export.csv")
    encoding: Encoding = "auto"


@dataclass(frozen=True)
class OutputSettings:
    directory: Path = Path("output")
    archive_directory: Path = Path("output/archive")
    filename_pattern: str = "customers_%s.xlsx"
    customers_copy_to: Path | None = None
    csv_filename_pattern: str = "max_value_%s.csv"
    max_value_copy_to: Path | None = None
    reviews_filename_pattern: str = "for_reviews_%s.csv"
    reviews_copy_to: Path | None = None


@dataclass(frozen=True)
class LogSettings:
    directory: Path = Path("logs")
    level: LogLevel = "INFO"


@dataclass(frozen=True)
class ProcessingSettings:
    timezone: str = "Europe/London"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class KlaviyoSettings:
    enabled: bool = False
    fetch_mode: FetchMode = "segment"
    segment_id: str | None = None
    suppressed_segment_id: str | None = None
    cache_dir: Path = Path("cache")
    cache_ttl: int = 86400
    base_url: str = "https://a.klaviyo.com"
    revision: str = "2026-07-15"
    timeout_seconds: float = 30.0
    # Parallel slices when fetching a profile index (see integrations/klaviyo).
    fetch_workers: int = 8
    # An incremental refresh cannot see deletions: force a full fetch this often.
    full_refresh_days: int = 7


@dataclass(frozen=True)
class KlaviyoUploadSettings:
    enabled: bool = False
    dry_run: bool = False
    chunk_size: int = 5000
    retry_limit: int = 5
    retry_delay_ms: int = 500
    # How long to wait for a submitted bulk import job before reporting it unfinished.
    job_timeout_seconds: int = 900
    # First wait before polling a submitted job; later polls back off up to 15 s.
    poll_interval_seconds: float = 2.0


@dataclass(frozen=True)
class KlaviyoPropertiesSettings:
    """The Klaviyo property name of each max-value field; ``""`` leaves the field out.

    The defaults are the seed store's names and reproduce today's files.
    """

    has_dividends: str = DEFAULT_NAMES["has_dividends"]
    discount_code: str = DEFAULT_NAMES["discount_code"]
    discount_value: str = DEFAULT_NAMES["discount_value"]
    min_spend: str = DEFAULT_NAMES["min_spend"]
    multiple_codes: str = DEFAULT_NAMES["multiple_codes"]
    number_of_codes: str = DEFAULT_NAMES["number_of_codes"]
    balance: str = DEFAULT_NAMES["balance"]
    account_state: str = DEFAULT_NAMES["account_state"]
    member_since: str = DEFAULT_NAMES["member_since"]

    @property
    def property_map(self) -> PropertyMap:
        """The fields sent and their names (checked when the settings load)."""
        return PropertyMap.of(dataclasses.asdict(self))


@dataclass(frozen=True)
class CodesSettings:
    namespace: str = "alpkit"
    available_key: str = "discountcodes_2021"
    used_key: str = "usedcodes_2021"
    expired_key: str = "expiredcodes_2021"
    # The metafield type the Matrixify import names ("Metafield: ns.key [json]") when
    # the export's header names none; "" writes no type (Shopify's definition decides).
    metafield_type: str = "json"


@dataclass(frozen=True)
class FieldsSettings:
    account_state_column: str = "State"
    member_since_column: str = "Created At"


@dataclass(frozen=True)
class DatabaseSettings:
    # A relative SQLite path resolves against the config file's folder.
    url: str = "sqlite:///memberkit.db"
    # The rewards update writes changed members and wallets here and records each run.
    mirror_rewards_update: bool = True


@dataclass(frozen=True)
class TiersSettings:
    # Tier thresholds count points earned over this many days up to today.
    window_days: int = 365


@dataclass(frozen=True)
class Settings:
    """Every setting of memberkit, validated. Paths are absolute."""

    input: InputSettings = field(default_factory=InputSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    log: LogSettings = field(default_factory=LogSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    klaviyo: KlaviyoSettings = field(default_factory=KlaviyoSettings)
    klaviyo_upload: KlaviyoUploadSettings = field(default_factory=KlaviyoUploadSettings)
    klaviyo_properties: KlaviyoPropertiesSettings = field(default_factory=KlaviyoPropertiesSettings)
    codes: CodesSettings = field(default_factory=CodesSettings)
    fields: FieldsSettings = field(default_factory=FieldsSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    tiers: TiersSettings = field(default_factory=TiersSettings)
    # Where the settings came from: the config file (None when there was none)
    # and the folder relative paths resolve against.
    config_path: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    def secret(self, name: str) -> Secret | None:
        """A secret from the environment, else from ``config/api.env``; None when unset."""
        return read_secret(name, self.base_dir / SECRETS_FILE)

    @property
    def secrets_file(self) -> Path:
        return self.base_dir / SECRETS_FILE


SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(Settings)[f.name]
    for f in dataclasses.fields(Settings)
    if f.name not in ("config_path", "base_dir")
}


def _check_range(low: int | None = None, high: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if low is not None and value < low:
            return f"must be at least {low}, got {value}"
        if high is not None and value > high:
            return f"must be at most {high}, got {value}"
        return None

    return check


def _check_timezone(value: Any) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'"
    return None


def _check_pattern(value: Any) -> str | None:
    if value.count("%s") != 1:
        return f"must contain '%s' exactly once (replaced by the run date), got {value!r}"
    if "/" in value or "\\" in value:
        return f"must be a file name, not a path, got {value!r}"
    return None


def _check_url(value: Any) -> str | None:
    if not value.startswith(("http://", "https://")):
        return f"must start with http:// or https://, got {value!r}"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "processing.timezone": _check_timezone,
    "output.filename_pattern": _check_pattern,
    "output.csv_filename_pattern": _check_pattern,
    "output.reviews_filename_pattern": _check_pattern,
    "klaviyo.cache_ttl": _check_range(0),
    "klaviyo.base_url": _check_url,
    "klaviyo.timeout_seconds": _check_range(1),
    "klaviyo.fetch_workers": _check_range(1, 64),
    "klaviyo.full_refresh_days": _check_range(1),
    "klaviyo_upload.chunk_size": _check_range(1, 10000),
    "klaviyo_upload.retry_limit": _check_range(0, 20),
    "klaviyo_upload.retry_delay_ms": _check_range(0),
    "klaviyo_upload.job_timeout_seconds": _check_range(1),
    "klaviyo_upload.poll_interval_seconds": _check_range(0),
    "tiers.window_days": _check_range(1),
}


def all_keys() -> list[str]:
    """Every setting as ``section.key``, in declaration order."""
    return [
        f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
    ]


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_name(inner[0])
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, "a path" if tp is Path else str(tp)
    )


def _coerce(value: Any, tp: Any, *, from_text: bool) -> Any:
    """Convert one value to the annotated type; raise ValueError with the reason."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (from_text and value == ""):
            return None
        return _coerce(value, inner[0], from_text=from_text)
    if origin is Literal:
        choices = typing.get_args(tp)
        candidate = value
        if isinstance(value, str):
            # Log levels and similar enums are forgiving about case.
            for choice in choices:
                if isinstance(choice, str) and choice.lower() == value.strip().lower():
                    candidate = choice
        if candidate not in choices:
            raise ValueError(f"must be {_type_name(tp)}, got {value!r}")
        return candidate
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
        raise ValueError(f"must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError(f"must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ValueError(f"must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"must be a string, got {value!r}")
    if tp is Path:
        if isinstance(value, str) and value.strip():
            return Path(value.strip()).expanduser()
        raise ValueError(f"must be a path (a non-empty string), got {value!r}")
    raise TypeError(f"unsupported setting type {tp!r}")  # pragma: no cover - programming error


def _resolve_paths(section: Any, base_dir: Path) -> Any:
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, Path) and not value.is_absolute():
            changes[f.name] = base_dir / value
    return dataclasses.replace(section, **changes) if changes else section


def _resolve_database_url(url: str, base_dir: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        rest = url[len(prefix) :]
        if rest and not rest.startswith("/"):
            return prefix + str(base_dir / rest)
    return url


def load_settings(
    config_path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build validated ``Settings``; raise ``ConfigError`` naming the source and the key.

    ``config_path=None`` means ``./memberkit.toml`` if it exists, else defaults only.
    An explicit path that does not exist is an error.
    """
    environ = os.environ if environ is None else environ
    if config_path is None:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        path: Path | None = candidate if candidate.is_file() else None
    else:
        path = config_path.expanduser().absolute()
        if not path.is_file():
            raise ConfigNotFoundError(f"config file {path} not found", file=path)
    base_dir = path.parent if path else Path.cwd()

    # layer -> {(section, key): (value, from_text, source)}
    layers: list[dict[tuple[str, str], tuple[Any, bool, str]]] = []
    if path is not None:
        layers.append(_read_toml(path))
    layers.append(_read_environ(environ))
    if overrides:
        layer = {}
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            layer[(section, key)] = (value, isinstance(value, str), "command line")
        layers.append(layer)

    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for layer in layers:
        for (section, key), (raw, from_text, source) in layer.items():
            cls = SECTIONS[section]
            tp = typing.get_type_hints(cls)[key]
            try:
                value = _coerce(raw, tp, from_text=from_text)
            except ValueError as exc:
                raise ConfigError(
                    f"{source}: {section}.{key} {exc}", setting=f"{section}.{key}"
                ) from None
            check = _CHECKS.get(f"{section}.{key}")
            problem = check(value) if check and value is not None else None
            if problem:
                raise ConfigError(
                    f"{source}: {section}.{key} {problem}", setting=f"{section}.{key}"
                )
            values[section][key] = value

    sections = {
        name: _resolve_paths(cls(**values[name]), base_dir) for name, cls in SECTIONS.items()
    }
    sections["database"] = dataclasses.replace(
        sections["database"], url=_resolve_database_url(sections["database"].url, base_dir)
    )
    settings = Settings(**sections, config_path=path, base_dir=base_dir)
    _check_cross_field(settings, str(path) if path else "settings")
    return settings


def _check_cross_field(settings: Settings, source: str) -> None:
    """Rules between settings. Segment ids are checked where a mode uses them."""
    try:
        PropertyMap.of(dataclasses.asdict(settings.klaviyo_properties))
    except PropertyMapError as exc:
        setting = f"klaviyo_properties.{exc.field}" if exc.field else "klaviyo_properties"
        raise ConfigError(f"{source}: {setting}: {exc}", setting=setting) from None
    if settings.klaviyo_upload.enabled and not settings.klaviyo.enabled:
        raise ConfigError(
            f"{source}: klaviyo_upload.enabled = true needs klaviyo.enabled = true "
            "(changed profiles are found by comparing against Klaviyo)"
        )


def _read_toml(path: Path) -> dict[tuple[str, str], tuple[Any, bool, str]]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    out: dict[tuple[str, str], tuple[Any, bool, str]] = {}
    sections = list(SECTIONS)
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{path}: unknown section [{section}]{_did_you_mean(section, sections)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a table ([{section}]), got {table!r}")
        keys = [f.name for f in dataclasses.fields(SECTIONS[section])]
        for key, value in table.items():
            if key not in keys:
                dotted = [f"{section}.{k}" for k in keys] + all_keys()
                raise ConfigError(
                    f"{path}: unknown key {section}.{key}"
                    f"{_did_you_mean(f'{section}.{key}', dotted)}",
                    file=path,
                    setting=f"{section}.{key}",
                )
            out[(section, key)] = (value, False, str(path))
    return out


def _read_environ(environ: Mapping[str, str]) -> dict[tuple[str, str], tuple[Any, bool, str]]:
    out: dict[tuple[str, str], tuple[Any, bool, str]] = {}
    known = {f"{ENV_PREFIX}{k.replace('.', '__').upper()}": k for k in all_keys()}
    for name, value in environ.items():
        # Only MEMBERKIT_<SECTION>__<KEY> is configuration; MEMBERKIT_TEST_* and
        # other single-underscore names belong to the test suite and tools.
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        dotted = known.get(name)
        if dotted is None:
            raise ConfigError(
                f"environment variable {name}: unknown setting{_did_you_mean(name, list(known))}"
            )
        section, key = dotted.split(".")
        out[(section, key)] = (value, True, f"environment variable {name}")
    return out


class Secret:
    """A secret value whose text form is masked; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=value`` lines (``#`` comments, optional ``export``, optional quotes)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").strip()
        name, sep, value = stripped.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{path}: line {number}: expected KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[name.strip()] = value
    return out


def read_secret(
    name: str, env_file: Path, environ: Mapping[str, str] | None = None
) -> Secret | None:
    """The secret ``name`` from the environment, else from ``env_file``; None when unset."""
    environ = os.environ if environ is None else environ
    value = environ.get(name, "").strip()
    if not value:
        value = parse_env_file(env_file).get(name, "").strip()
    return Secret(value) if value else None
