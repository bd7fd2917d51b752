"""Reports pages: the standard reports, the report builder, saved reports and dashboards."""

from django.urls import path, re_path

from .standard import load
from .views import builder, dashboards, index, standard

# Only the standard reports' keys: the builder's and dashboards' pages under /reports/ stay theirs.
STANDARD_KEYS = "|".join(load())

urlpatterns = [
    path("reports/", index.reports_index, name="reports"),
    re_path(rf"^reports/(?P<key>{STANDARD_KEYS})/$", standard.report_page, name="report-standard"),
    path("reports/builder/", builder.builder, name="reports-builder"),
    path("reports/builder/preview/", builder.preview, name="reports-preview"),
    path("reports/builder/export/", builder.export_builder, name="reports-export"),
    path("reports/builder/save/", builder.save, name="reports-save"),
    path("reports/saved/", builder.saved_list, name="reports-saved-list"),
    path("reports/saved/<int:pk>/", builder.saved_report, name="reports-saved"),
    path("reports/saved/<int:pk>/export/", builder.export_saved, name="reports-saved-export"),
    path("reports/saved/<int:pk>/delete/", builder.delete, name="reports-saved-delete"),
    path("reports/saved/<int:pk>/add-to-dashboard/", builder.add_to_dashboard, name="reports-add-widget"),
    path("reports/dashboards/", dashboards.dashboard_list, name="reports-dashboards"),
    path("reports/dashboards/new/", dashboards.dashboard_create, name="reports-dashboard-create"),
    path("reports/dashboards/<int:pk>/", dashboards.dashboard_page, name="reports-dashboard"),
    path("reports/dashboards/<int:pk>/edit/", dashboards.dashboard_edit, name="reports-dashboard-edit"),
    path("reports/dashboards/<int:pk>/delete/", dashboards.dashboard_delete, name="reports-dashboard-delete"),
    path("reports/dashboards/<int:pk>/arrange/", dashboards.dashboard_arrange, name="reports-dashboard-arrange"),
    path("reports/dashboards/<int:pk>/widgets/<int:wid>/size/", dashboards.widget_size, name="reports-widget-size"),
    path(
        "reports/dashboards/<int:pk>/widgets/<int:wid>/remove/", dashboards.widget_remove, name="reports-widget-remove"
    ),
]
