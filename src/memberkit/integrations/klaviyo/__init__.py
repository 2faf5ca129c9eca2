"""The Klaviyo API client: profile index fetch, bulk profile upload, events.

Public surface::

    KlaviyoClient, RetryPolicy               client.py     headers, timeouts, retries
    RateLimiter, RATE_LIMITS, Endpoint       ratelimit.py  per-endpoint burst + steady limits
    ProfileFetcher, ProfileSource            profiles.py   parallel slices, incremental
    BulkProfileUploader, ProfileUpdate,
    UploadReport, FailedProfile              upload.py     bulk import jobs, polling, import errors
    EventsClient, Event                      events.py     single events and bulk event jobs
    KlaviyoError and subclasses              errors.py
"""

from memberkit.integrations.klaviyo.client import KEY_VARIABLE, KlaviyoClient, RetryPolicy
from memberkit.integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoRequestError,
    KlaviyoUnavailableError,
)
from memberkit.integrations.klaviyo.events import Event, EventsClient
from memberkit.integrations.klaviyo.profiles import ProfileFetcher, ProfileSource
from memberkit.integrations.klaviyo.ratelimit import RATE_LIMITS, Endpoint, RateLimit, RateLimiter
from memberkit.integrations.klaviyo.upload import (
    BulkProfileUploader,
    FailedProfile,
    ProfileUpdate,
    UploadReport,
)

__all__ = [
    "KEY_VARIABLE",
    "RATE_LIMITS",
    "BulkProfileUploader",
    "Endpoint",
    "Event",
    "EventsClient",
    "FailedProfile",
    "KlaviyoAuthError",
    "KlaviyoClient",
    "KlaviyoError",
    "KlaviyoRequestError",
    "KlaviyoUnavailableError",
    "ProfileFetcher",
    "ProfileSource",
    "ProfileUpdate",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "UploadReport",
]
