"""The dashboard: members, points outstanding and expiring, imports, the last run, a chart."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from memberkit.services import admin_views
from memberkit.web.chart import SERIES, points_chart
from memberkit.web.deps import Viewer, app_db
from memberkit.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, caller: Viewer) -> Response:
    """The dashboard page."""
    figures = admin_views.dashboard(app_db(request))
    # The chart is built from numbers with its labels escaped (web.chart): safe to embed.
    chart = Markup(points_chart(figures.days))  # noqa: S704
    return render(request, "dashboard.html", {"figures": figures, "chart": chart, "series": SERIES})
