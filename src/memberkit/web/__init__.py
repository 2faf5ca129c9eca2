"""The web admin (``memberkit serve``): FastAPI, server-rendered Jinja2 pages, a little htmx.

``create_app(settings)`` in ``web.app`` builds the application; see docs/web.md.
"""
