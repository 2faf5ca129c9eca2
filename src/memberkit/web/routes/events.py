"""Events: each sink's queue (pending, delivered, dead, oldest pending) and the dead letters.

Viewers see the queues and the dead deliveries with their last error;
operators can requeue one dead event or all of them (the same
``events.queue.requeue`` as ``memberkit events retry``). The deliverer loop in
``serve`` (or ``memberkit events deliver``) picks requeued events up.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from memberkit.errors import NotFoundError
from memberkit.events import queue
from memberkit.events.sinks.factory import sink_labels, sink_types
from memberkit.web.deps import Operator, Viewer, app_db, app_settings
from memberkit.web.rendering import render

router = APIRouter(include_in_schema=False)

DEAD_SHOWN = 100


@router.get("/events")
def events_page(request: Request, caller: Viewer) -> Response:
    """Queues per enabled sink and the latest dead deliveries."""
    settings = app_settings(request)
    db = app_db(request)
    labels = sink_labels(settings)
    sinks = [
        {
            "label": labels.get(state.sink, state.sink),
            "pending": state.pending + state.not_queued,
            "delivered": state.delivered,
            "dead": state.dead,
            "oldest_pending_at": state.oldest_pending_at,
        }
        for state in queue.status(db, sink_types(settings))
    ]
    dead = [
        {"label": labels.get(d.sink, d.sink), "delivery": d}
        for d in queue.dead_deliveries(db, limit=DEAD_SHOWN)
    ]
    message = request.query_params.get("requeued")
    return render(
        request,
        "events/index.html",
        {"sinks": sinks, "dead": dead, "requeued": message, "dead_shown": DEAD_SHOWN},
    )


@router.post("/events/retry")
async def retry_dead(request: Request, caller: Operator) -> Response:
    """Requeue the dead deliveries of one event (``event_id``) or all of them (``all``)."""
    form = await request.form()
    db = app_db(request)
    raw = str(form.get("event_id") or "").strip()
    if raw:
        valid = raw.isascii() and raw.isdigit() and len(raw) <= 18
        if not valid or not queue.event_exists(db, int(raw)):
            raise NotFoundError(f"there is no event {raw[:20]!r}")
        count = queue.requeue(db, event_id=int(raw))
    else:
        count = queue.requeue(db, all_dead=True)
    return RedirectResponse(f"/events?requeued={count}", status_code=303)
