"""Reports endpoints under /api/v1/: the standard reports, saved and ad hoc reports, dashboards and their
widgets."""

from django.urls import path

from ..standard import load
from . import views
from .standard import view_for

urlpatterns = [
    path("v1/reports/saved/", views.SavedReportListView.as_view(), name="api-saved-reports"),
    path("v1/reports/saved/<int:pk>/", views.SavedReportDetailView.as_view(), name="api-saved-report"),
    path("v1/reports/saved/<int:pk>/run/", views.SavedReportRunView.as_view(), name="api-saved-report-run"),
    path("v1/reports/run/", views.ReportRunView.as_view(), name="api-report-run"),
    path("v1/dashboards/", views.DashboardListView.as_view(), name="api-dashboards"),
    path("v1/dashboards/<int:pk>/", views.DashboardDetailView.as_view(), name="api-dashboard"),
    path("v1/dashboards/<int:pk>/run/", views.DashboardRunView.as_view(), name="api-dashboard-run"),
    path("v1/dashboards/<int:pk>/arrange/", views.ArrangeView.as_view(), name="api-dashboard-arrange"),
    path("v1/dashboards/<int:pk>/widgets/", views.WidgetListView.as_view(), name="api-dashboard-widgets"),
    path("v1/dashboards/<int:pk>/widgets/<int:wid>/", views.WidgetDetailView.as_view(), name="api-dashboard-widget"),
]
urlpatterns += [
    path(f"v1/reports/{key}/", view_for(spec).as_view(), name=f"api-report-{key}") for key, spec in load().items()
]
