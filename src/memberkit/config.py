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
import json
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
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
PushMode = Literal["file", "api", "both"]


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
class WebSettings:
    # `memberkit serve` defaults (its --host, --port and --workers flags override them).
    host: str = "127.0.0.1"
    port: int = 8000
    # Server processes: Python runs one request at a time per process, so on a
    # machine with several cores more processes serve more staff at once.
    workers: int = 1
    # A signed-in session ends this many hours after sign-in.
    session_hours: int = 12
    # Mark the session cookie Secure even over plain http (behind a TLS proxy).
    secure_cookies: bool = False
    # Largest upload accepted (an import file), in megabytes.
    max_upload_mb: int = 200
    # Where the session-signing key is generated once (0600) when MEMBERKIT_SECRET_KEY is unset.
    secret_key_file: Path = Path("config/web_secret.key")
    # Failed sign-ins per account and per address within login_window_minutes before a 429.
    login_max_failures: int = 5
    login_window_minutes: int = 15
    # How often the worker inside `serve` looks for queued work, in seconds.
    worker_poll_seconds: float = 1.0
    # How often `serve` applies queued Shopify webhooks and delivers pending events.
    background_poll_seconds: float = 5.0


@dataclass(frozen=True)
class ImportsSettings:
    # One folder per import (original, error and results files); relative to the config.
    storage_directory: Path = Path("imports")
    # The longest Transaction Description a points import row may carry.
    description_max_length: int = 255
    # Rows per transaction when an import is applied (each chunk commits with its checkpoint).
    chunk_size: int = 10000
    # The XLSX reader: "calamine" (fast, Rust) or "openpyxl" (read-only mode).
    xlsx_reader: str = "calamine"


@dataclass(frozen=True)
class ShopifySettings:
    # NAME.myshopify.com; required for anything that calls the Admin API.
    shop: str | None = None
    # A quarterly Admin API version Shopify supports (2026-10: supported to October 2027).
    api_version: str = "2026-10"
    # "{shop}" is replaced by shop; a local server in tests.
    base_url: str = "https://{shop}"
    # The store's currency (ISO 4217), for amounts sent to Shopify.
    currency: str = "GBP"
    # How the rewards update gets members' codes to Shopify: the Matrixify file,
    # the Admin API (metafieldsSet / bulk mutation), or both.
    push_mode: PushMode = "file"
    # Metafields written by `shopify push` beside the code lists (in codes.namespace).
    points_key: str = "points_balance"
    tier_key: str = "vip_tier"
    # At or below this many members a push uses metafieldsSet calls, above it a bulk mutation.
    bulk_threshold: int = 200
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class EventsKlaviyoSettings:
    enabled: bool = False
    # Event type -> Klaviyo metric name; a type not listed keeps its own name ("points/added").
    metric_names: dict[str, str] = field(default_factory=dict)
    # At least this many pending events for the sink go in bulk jobs, fewer one by one.
    bulk_threshold: int = 10
    # Keep points_balance, points_expiring_amount/_date and vip_tier current on profiles.
    profile_properties: bool = True


@dataclass(frozen=True)
class EventsFlowSettings:
    enabled: bool = False
    # Event type -> Shopify Flow trigger handle; a type with no handle is not sent.
    handles: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventsWebhooksSettings:
    enabled: bool = False
    urls: list[str] = field(default_factory=list)
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class EventsSettings:
    # Attempts per sink before an event is parked as dead.
    max_attempts: int = 10
    # The first retry waits this long; each later one twice as long (at most an hour).
    retry_delay_ms: int = 30_000
    # Days before a lot expires that a points/expiring reminder is written.
    expiring_notice_days: list[int] = field(default_factory=lambda: [30, 7])
    # Deliveries one worker claims at a time.
    batch_size: int = 1000
    # `memberkit serve` delivers pending events too (off: run `memberkit events deliver`).
    deliver_in_serve: bool = True
    # Delivery threads per deliverer (`events deliver --workers` overrides it). Two keep
    # a Klaviyo bulk job in flight while the next batch is claimed and encoded: 95% of
    # Klaviyo's limits against 83% with one (benchmarks/README.md "Events delivery").
    workers: int = 2
    klaviyo: EventsKlaviyoSettings = field(default_factory=EventsKlaviyoSettings)
    flow: EventsFlowSettings = field(default_factory=EventsFlowSettings)
    webhooks: EventsWebhooksSettings = field(default_factory=EventsWebhooksSettings)


@dataclass(frozen=True)
class BirthdaySettings:
    # Points a member gets on their birthday, once a year; 0 turns birthday rewards off.
    points: int = 0
    # Days the birthday points last (0: they do not expire).
    expires_after_days: int = 0


@dataclass(frozen=True)
class EarningSettings:
    """How orders earn points (see ``domain.earning``)."""

    points_per_unit: Decimal = Decimal(1)
    min_subtotal: Decimal = Decimal(0)
    # Tier name -> multiplier, e.g. {Gold = "1.5"}; tiers not named earn x1.
    tier_multipliers: dict[str, Decimal] = field(default_factory=dict)
    first_order_bonus: int = 0
    excluded_tags: tuple[str, ...] = ()
    excluded_codes: tuple[str, ...] = ()
    pending_days: int = 14


ValueType = Literal["fixed_amount", "percentage"]


@dataclass(frozen=True)
class RewardDefinition:
    """One ``[[rewards.catalogue]]`` entry: what a member can redeem points for."""

    name: str
    points_cost: int
    value_type: ValueType
    value: Decimal
    min_spend: Decimal | None = None
    validity_days: int = 90
    code_prefix: str = "RWD"


@dataclass(frozen=True)
class RewardsSettings:
    """The rewards catalogue, as ``[[rewards.catalogue]]`` tables."""

    catalogue: tuple[RewardDefinition, ...] = ()

    def find(self, name: str) -> RewardDefinition | None:
        """The reward named ``name`` (case-insensitive), None when there is none."""
        wanted = name.strip().lower()
        return next((r for r in self.catalogue if r.name.strip().lower() == wanted), None)


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
    web: WebSettings = field(default_factory=WebSettings)
    earning: EarningSettings = field(default_factory=EarningSettings)
    rewards: RewardsSettings = field(default_factory=RewardsSettings)
    imports: ImportsSettings = field(default_factory=ImportsSettings)
    shopify: ShopifySettings = field(default_factory=ShopifySettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    birthday: BirthdaySettings = field(default_factory=BirthdaySettings)
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


def _subsections(path: str, cls: type[Any]) -> dict[str, type[Any]]:
    """``path`` -> ``cls`` and every nested section (a field whose type is a dataclass)."""
    out: dict[str, type[Any]] = {path: cls}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(_subsections(f"{path}.{f.name}", hints[f.name]))
    return out


# Every section by its TOML path: "events" and its subsections "events.klaviyo"...
SECTIONS: dict[str, type[Any]] = {}
for _field in dataclasses.fields(Settings):
    if _field.name not in ("config_path", "base_dir"):
        SECTIONS.update(_subsections(_field.name, typing.get_type_hints(Settings)[_field.name]))


def _leaf_fields(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    """The settings of a section, without its subsections."""
    hints = typing.get_type_hints(cls)
    return [f for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(hints[f.name])]


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


def _check_shop(value: Any) -> str | None:
    if not value.endswith(".myshopify.com") or value.count(".") != 2 or "/" in value:
        return f"must be the store's NAME.myshopify.com domain, got {value!r}"
    return None


def _check_api_version(value: Any) -> str | None:
    year, _, month = value.partition("-")
    if value != "unstable" and not (
        len(year) == 4 and year.isdigit() and month in ("01", "04", "07", "10")
    ):
        return f"must be a quarterly Admin API version like '2026-10', got {value!r}"
    return None


def _check_currency(value: Any) -> str | None:
    if not (len(value) == 3 and value.isalpha() and value.isupper()):
        return f"must be an ISO 4217 currency code like 'GBP', got {value!r}"
    return None


def _check_urls(value: Any) -> str | None:
    for url in value:
        problem = _check_url(url)
        if problem:
            return problem
    return None


def _check_days(value: Any) -> str | None:
    if any(day < 1 for day in value):
        return f"must be whole days of at least 1, got {value!r}"
    return None


# The event types a sink may name (domain.events.EVENT_TYPES plus the reminders);
# listed here because config may not import the domain.
EVENT_TYPE_NAMES = (
    "points/added",
    "points/deducted",
    "points/expired",
    "points/expiring",
    "tier/changed",
    "reward/issued",
    "profile/updated",
)


def _check_event_types(value: Any) -> str | None:
    for name in value:
        if name not in EVENT_TYPE_NAMES:
            return (
                f"has an unknown event type {name!r}{_did_you_mean(name, list(EVENT_TYPE_NAMES))} "
                f"(known: {', '.join(EVENT_TYPE_NAMES)})"
            )
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
    "web.port": _check_range(1, 65535),
    "web.session_hours": _check_range(1, 24 * 90),
    "web.max_upload_mb": _check_range(1, 10_000),
    "web.login_max_failures": _check_range(1, 1000),
    "web.login_window_minutes": _check_range(1, 24 * 60),
    "earning.first_order_bonus": _check_range(0, 1_000_000_000),
    "earning.pending_days": _check_range(0, 3650),
    "imports.description_max_length": _check_range(1, 100_000),
    "imports.chunk_size": _check_range(1, 100_000),
    "imports.xlsx_reader": lambda v: (
        None if v in ("calamine", "openpyxl") else f"must be 'calamine' or 'openpyxl', got {v!r}"
    ),
    "events.max_attempts": _check_range(1, 1000),
    "events.retry_delay_ms": _check_range(0),
    "events.batch_size": _check_range(1, 10000),
    "web.background_poll_seconds": lambda v: None if v > 0 else "must be more than 0",
    "web.workers": _check_range(1, 64),
    "events.workers": _check_range(1, 32),
    "events.expiring_notice_days": _check_days,
    "events.klaviyo.metric_names": _check_event_types,
    "events.klaviyo.bulk_threshold": _check_range(1),
    "events.flow.handles": _check_event_types,
    "events.webhooks.urls": _check_urls,
    "events.webhooks.timeout_seconds": _check_range(1),
    "birthday.points": _check_range(0),
    "birthday.expires_after_days": _check_range(0),
    "shopify.shop": _check_shop,
    "shopify.api_version": _check_api_version,
    "shopify.base_url": _check_url,
    "shopify.currency": _check_currency,
    "shopify.bulk_threshold": _check_range(0),
    "shopify.timeout_seconds": _check_range(1),
}


def all_keys() -> list[str]:
    """Every setting as ``section.key``, in declaration order."""
    return [f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in _leaf_fields(cls)]


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is dict:
        return "a table of strings"
    if origin is list:
        return "a list"
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
    if origin is dict:
        if from_text and isinstance(value, str):
            value = _json_text(value, "a JSON object")
        if not isinstance(value, dict):
            raise ValueError(f"must be a table (key = value pairs), got {value!r}")
        value_type = typing.get_args(tp)[1]
        return {str(k): _coerce(v, value_type, from_text=False) for k, v in value.items()}
    if origin is list:
        if from_text and isinstance(value, str):
            text = value.strip()
            value = (
                _json_text(text, "a JSON list")
                if text.startswith("[")
                else [part.strip() for part in text.split(",") if part.strip()]
            )
        if not isinstance(value, list):
            raise ValueError(f"must be a list, got {value!r}")
        item_type = typing.get_args(tp)[0]
        return [_coerce(v, item_type, from_text=from_text) for v in value]
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
    if tp is Decimal:
        return _coerce_decimal(value)
    if origin is tuple:
        return _coerce_tuple(value, typing.get_args(tp)[0], from_text=from_text)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _coerce_table(value, tp)
    raise TypeError(f"unsupported setting type {tp!r}")  # pragma: no cover - programming error


def _coerce_decimal(value: Any) -> Decimal:
    """A non-negative number written as a TOML number or a string of digits (never a float
    kept as a float: ``1.5`` becomes ``Decimal("1.5")`` as written)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number such as 1.5, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number such as 1.5, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"must be a number of 0 or more, got {value!r}")
    return number


def _coerce_tuple(value: Any, item: Any, *, from_text: bool) -> tuple[Any, ...]:
    if from_text and isinstance(value, str):
        if dataclasses.is_dataclass(item):
            raise ValueError("can only be set in the config file (as [[tables]])")
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise ValueError(f"must be a list, got {value!r}")
    out = []
    for position, element in enumerate(value, start=1):
        try:
            out.append(_coerce(element, item, from_text=False))
        except ValueError as exc:
            raise ValueError(f"entry {position}: {exc}") from None
    return tuple(out)


def _coerce_table(value: Any, cls: type[Any]) -> Any:
    """One ``[[section.key]]`` table as the dataclass ``cls``: unknown keys and missing ones
    are errors naming the key."""
    if not isinstance(value, dict):
        raise ValueError(f"must be a table, got {value!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    label = repr(value["name"]) if isinstance(value.get("name"), str) else "a table"
    for key in value:
        if key not in fields:
            raise ValueError(f"{label}: unknown key {key!r}{_did_you_mean(key, list(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{label}: {name} is missing")
            continue
        try:
            kwargs[name] = _coerce(value[name], hints[name], from_text=False)
        except ValueError as exc:
            raise ValueError(f"{label}: {name} {exc}") from None
    return cls(**kwargs)


def _json_text(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"must be {what}, got {text!r}") from None


def _build_section(path: str, values: dict[str, dict[str, Any]], base_dir: Path) -> Any:
    """The section at ``path`` with its subsections, paths resolved."""
    cls = SECTIONS[path]
    hints = typing.get_type_hints(cls)
    nested = {
        f.name: _build_section(f"{path}.{f.name}", values, base_dir)
        for f in dataclasses.fields(cls)
        if dataclasses.is_dataclass(hints[f.name])
    }
    return _resolve_paths(cls(**values[path], **nested), base_dir)


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
            section, _, key = dotted.rpartition(".")
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
        name: _build_section(name, values, base_dir) for name in SECTIONS if "." not in name
    }
    sections["database"] = dataclasses.replace(
        sections["database"], url=_resolve_database_url(sections["database"].url, base_dir)
    )
    settings = Settings(**sections, config_path=path, base_dir=base_dir)
    _check_cross_field(settings, str(path) if path else "settings")
    return settings


def with_values(
    settings: Settings, values: Mapping[str, Any], *, source: str, from_text: bool = False
) -> Settings:
    """``settings`` with ``section.key -> value`` replaced, checked as the config file is.

    The same coercion, range checks and cross-field rules as ``load_settings``;
    a bad value is a ``ConfigError`` naming ``source`` and the key. Used for the
    earning rules and the catalogue edited in the web admin
    (``services.program_settings``). ``from_text``: values are form text (lists
    comma-separated, tables as JSON).
    """
    changed: dict[str, dict[str, Any]] = {}
    for dotted, raw in values.items():
        section, _, key = dotted.rpartition(".")
        cls = SECTIONS.get(section)
        hints = typing.get_type_hints(cls) if cls is not None else {}
        if key not in hints:
            raise ConfigError(f"{source}: unknown setting {dotted!r}", setting=dotted)
        try:
            value = _coerce(raw, hints[key], from_text=from_text)
        except ValueError as exc:
            raise ConfigError(f"{source}: {dotted} {exc}", setting=dotted) from None
        check = _CHECKS.get(dotted)
        problem = check(value) if check and value is not None else None
        if problem:
            raise ConfigError(f"{source}: {dotted} {problem}", setting=dotted)
        changed.setdefault(section, {})[key] = value
    replaced: dict[str, Any] = {}
    for section, fields in changed.items():
        if "." in section:
            raise ConfigError(f"{source}: {section} cannot be changed here", setting=section)
        replaced[section] = dataclasses.replace(getattr(settings, section), **fields)
    result = dataclasses.replace(settings, **replaced)
    _check_cross_field(result, source)
    return result


def _check_cross_field(settings: Settings, source: str) -> None:
    """Rules between settings. Segment ids are checked where a mode uses them."""
    _check_catalogue(settings.rewards, source)
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


def _check_catalogue(rewards: RewardsSettings, source: str) -> None:
    """Reward names unique (case-insensitively); costs, values and validity in range."""
    seen: set[str] = set()
    for reward in rewards.catalogue:
        where = f"{source}: rewards.catalogue {reward.name!r}"
        if not reward.name.strip():
            raise ConfigError(f"{source}: rewards.catalogue: a reward has a blank name")
        if reward.name.strip().lower() in seen:
            raise ConfigError(f"{where} appears twice; reward names must be unique")
        seen.add(reward.name.strip().lower())
        if reward.points_cost < 1:
            raise ConfigError(f"{where}: points_cost must be at least 1")
        if reward.validity_days < 1:
            raise ConfigError(f"{where}: validity_days must be at least 1")
        if reward.value <= 0 or reward.value.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ConfigError(f"{where}: value must be more than 0, with at most 2 decimals")
        if reward.value_type == "percentage" and reward.value > 100:
            raise ConfigError(f"{where}: a percentage value is at most 100")
        prefix = reward.code_prefix
        if not prefix or not all(c.isascii() and (c.isalnum() or c in "-_") for c in prefix):
            raise ConfigError(
                f"{where}: code_prefix must be letters, digits, - or _, got {prefix!r}"
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
    tables = list(data.items())
    while tables:
        section, table = tables.pop(0)
        if section not in SECTIONS:
            raise ConfigError(
                f"{path}: unknown section [{section}]{_did_you_mean(section, sections)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a table ([{section}]), got {table!r}")
        keys = [f.name for f in _leaf_fields(SECTIONS[section])]
        for key, value in table.items():
            if f"{section}.{key}" in SECTIONS:
                tables.append((f"{section}.{key}", value))
                continue
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
        section, key = dotted.rsplit(".", 1)
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
