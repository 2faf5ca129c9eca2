"""How the CLI speaks the core's errors: one table from error code to exit code and hint.

The core raises ``MemberkitError``s with a stable ``code`` and no knowledge of
flags or exit codes; this table is the only place that knows both. A hint here
replaces the core's own (it can name the flags and commands of the CLI); a code
missing from ``HINTS`` keeps the core's hint. The web maps the same codes to
HTTP statuses.
"""

from __future__ import annotations

from memberkit.errors import EXIT_FAILED, EXIT_USAGE, MemberkitError

# Codes that are the user's to fix before running again: exit 2. Everything else,
# including codes added later and not listed here, is a failure: exit 1.
EXIT_CODES: dict[str, int] = {
    "config_invalid": EXIT_USAGE,
    "config_not_found": EXIT_USAGE,
    "usage_invalid": EXIT_USAGE,
    "value_invalid": EXIT_USAGE,
    "input_file_invalid": EXIT_FAILED,
    "not_found": EXIT_FAILED,
    "locked": EXIT_FAILED,
    "insufficient_points": EXIT_FAILED,
    "idempotency_conflict": EXIT_FAILED,
    "ledger_refused": EXIT_FAILED,
    "reversal_refused": EXIT_FAILED,
    "schema_outdated": EXIT_FAILED,
    "klaviyo_failed": EXIT_FAILED,
    "klaviyo_auth": EXIT_FAILED,
    "klaviyo_refused": EXIT_FAILED,
    "klaviyo_unavailable": EXIT_FAILED,
    "import_refused": EXIT_FAILED,
    "import_duplicate": EXIT_FAILED,
    "import_state": EXIT_FAILED,
    "shopify_failed": EXIT_FAILED,
    "shopify_auth": EXIT_FAILED,
    "shopify_refused": EXIT_FAILED,
    "shopify_unavailable": EXIT_FAILED,
    "shopify_bulk_failed": EXIT_FAILED,
    "webhook_unauthorized": EXIT_FAILED,
    "redemption_refused": EXIT_FAILED,
    "redemption_needs_customer": EXIT_FAILED,
    "login_refused": EXIT_FAILED,
    "login_rate_limited": EXIT_FAILED,
    "failed": EXIT_FAILED,
}

HINTS: dict[str, str] = {
    "config_not_found": "set up a store folder with `memberkit init DIR`, then run commands "
    "there or pass --config DIR/memberkit.toml",
    "insufficient_points": "deduct at most the balance, or pass --allow-negative to record "
    "the shortfall as debt (for migrations)",
    "import_duplicate": "pass --allow-duplicate to import the same file again",
    "idempotency_conflict": "use a new --key for a new posting, or repeat the original one exactly",
}

# Hints for a code that depend on which structured field the error carries.
_MEMBER_NOT_FOUND = (
    "check the spelling, or add the member with `memberkit members add EMAIL` "
    "(or load an export with `memberkit customers import FILE`)"
)


def exit_code_for(error: MemberkitError) -> int:
    """The exit code for ``error``: 2 for what the user must fix first, else 1."""
    return EXIT_CODES.get(error.code, EXIT_FAILED)


def hint_for(error: MemberkitError) -> str | None:
    """The hint to print under ``error``: the CLI's own for its code, else the core's."""
    if error.code == "not_found" and error.member is not None:
        return _MEMBER_NOT_FOUND
    return HINTS.get(error.code, error.hint)
