"""``POST /webhooks/shopify``: Shopify's order webhooks, verified and queued (issue 13).

No signed-in user: Shopify signs each delivery, and the signature is the
authentication (``services.earning.webhooks.receive_webhook`` checks it against
``SHOPIFY_WEBHOOK_SECRET`` before anything is written). The route only reads
the raw body (the signature covers its exact bytes), hands it over, and answers:
401 unsigned, wrongly signed or stale; 200 queued, duplicate or ignored topic.
The work itself is queued, so the answer comes well within Shopify's 5 seconds.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from memberkit.config import Settings
from memberkit.services.earning.webhooks import (
    WEBHOOK_SECRET_NAME,
    WebhookRejected,
    receive_webhook,
)
from memberkit.store.database import Database

router = APIRouter()

PATH = "/webhooks/shopify"


@router.post(PATH, include_in_schema=False)
async def shopify_webhook(request: Request) -> JSONResponse:
    """Verify, de-duplicate and queue one Shopify webhook delivery."""
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    body = await request.body()
    secret = settings.secret(WEBHOOK_SECRET_NAME)
    try:
        received = await run_in_threadpool(
            receive_webhook,
            db,
            body=body,
            headers=dict(request.headers),
            secret=secret.reveal() if secret is not None else None,
        )
    except WebhookRejected as exc:
        return JSONResponse({"error": exc.message}, status_code=401)
    return JSONResponse({"status": received.status, "webhook_id": received.webhook_id})
