"""Reports demo data for ``rapport demo``: the default Sales dashboard, two of the administrator's
saved reports (won by month; a pivot of open deals by stage and owner, shared with everyone) and a
dashboard of theirs showing them. Written through the services like any user's."""

from __future__ import annotations

from rapport.core.demo import DemoContext

from . import services
from .engine import parse_config


def load_demo(ctx: DemoContext) -> None:
    services.default_dashboard()
    admin = ctx.admin
    if admin is None:
        return
    won = services.create_report(
        actor=admin,
        name="Won deals by month",
        config=parse_config(
            {
                "type": "deals",
                "filters": "status=won",
                "group_by": [{"field": "closed_on", "granularity": "month"}],
                "measure": {"op": "sum", "field": "amount"},
                "chart": "bar",
            },
            admin,
        ),
        sharing="everyone",
    )
    pivot = services.create_report(
        actor=admin,
        name="Open pipeline by stage and owner",
        config=parse_config(
            {
                "type": "deals",
                "filters": "status=open",
                "group_by": [{"field": "stage"}, {"field": "owner"}],
                "measure": {"op": "sum", "field": "amount"},
                "chart": "stacked_bar",
            },
            admin,
        ),
        sharing="everyone",
    )
    board = services.create_dashboard(actor=admin, name="Management", sharing="everyone", filters={"period": ""})
    services.add_widget(board, won, actor=admin, size="w")
    services.add_widget(board, pivot, actor=admin, size="w")
