"""The enabled sinks, made from the settings (and their secrets)."""

from __future__ import annotations

from memberkit.config import Settings
from memberkit.errors import ConfigError
from memberkit.events.sinks import Sink
from memberkit.events.sinks.flow import FlowSink
from memberkit.events.sinks.klaviyo import KlaviyoSink
from memberkit.events.sinks.webhooks import SECRET_VARIABLE, WebhookSink, webhook_sink_name
from memberkit.events.types import ALL_EVENT_TYPES
from memberkit.integrations.klaviyo import KEY_VARIABLE, KlaviyoClient, RetryPolicy
from memberkit.integrations.shopify.client import client_from_settings


def sink_types(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each enabled sink's name and the event types it takes (no secrets needed)."""
    events = settings.events
    out: dict[str, tuple[str, ...]] = {}
    if events.klaviyo.enabled:
        out["klaviyo"] = ALL_EVENT_TYPES
    if events.flow.enabled:
        out["shopify_flow"] = tuple(sorted(events.flow.handles))
    if events.webhooks.enabled:
        for url in events.webhooks.urls:
            out[webhook_sink_name(url)] = ALL_EVENT_TYPES
    return out


def sink_labels(settings: Settings) -> dict[str, str]:
    """Sink name -> how people read it (a webhook's URL)."""
    labels = {name: name for name in sink_types(settings)}
    for url in settings.events.webhooks.urls:
        labels[webhook_sink_name(url)] = f"webhook {url}"
    return labels


def make_sinks(settings: Settings) -> list[Sink]:
    """Every enabled sink, ready to send; a missing key or setting is a ``ConfigError``."""
    events = settings.events
    sinks: list[Sink] = []
    if events.klaviyo.enabled:
        key = settings.secret(KEY_VARIABLE)
        if key is None:
            raise ConfigError(
                f"events.klaviyo.enabled = true but {KEY_VARIABLE} is not set",
                hint=f"set {KEY_VARIABLE} in the environment or {settings.secrets_file}; "
                "the key needs events:write and profiles:write",
            )
        client = KlaviyoClient(
            api_key=key,
            base_url=settings.klaviyo.base_url,
            revision=settings.klaviyo.revision,
            timeout_seconds=settings.klaviyo.timeout_seconds,
            retry=RetryPolicy(
                limit=settings.klaviyo_upload.retry_limit,
                delay_ms=settings.klaviyo_upload.retry_delay_ms,
            ),
        )
        sinks.append(
            KlaviyoSink(
                client,
                event_types=ALL_EVENT_TYPES,
                metric_names=events.klaviyo.metric_names,
                bulk_threshold=events.klaviyo.bulk_threshold,
            )
        )
    if events.flow.enabled:
        if not events.flow.handles:
            raise ConfigError(
                "events.flow.enabled = true but events.flow.handles is empty",
                setting="events.flow.handles",
                hint='name a Flow trigger handle per event type: handles = { "points/added" '
                '= "HANDLE" }',
            )
        sinks.append(FlowSink(client_from_settings(settings), events.flow.handles))
    if events.webhooks.enabled:
        secret = settings.secret(SECRET_VARIABLE)
        if secret is None:
            raise ConfigError(
                f"events.webhooks.enabled = true but {SECRET_VARIABLE} is not set",
                hint=f"set {SECRET_VARIABLE} (a long random string the receivers share) in the "
                f"environment or {settings.secrets_file}",
            )
        if not events.webhooks.urls:
            raise ConfigError(
                "events.webhooks.enabled = true but events.webhooks.urls is empty",
                setting="events.webhooks.urls",
            )
        for url in events.webhooks.urls:
            sinks.append(
                WebhookSink(
                    url,
                    secret=secret,
                    event_types=ALL_EVENT_TYPES,
                    timeout_seconds=events.webhooks.timeout_seconds,
                )
            )
    return sinks
