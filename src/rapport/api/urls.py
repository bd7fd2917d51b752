from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from rapport.activities import api as activities_api
from rapport.core import registry
from rapport.sales import api_pipelines as sales_api

from . import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("v1/search/", views.SearchView.as_view(), name="api-search"),
    path("v1/me/", views.MeView.as_view(), name="api-me"),
    path("v1/pipelines/", sales_api.PipelineCollectionView.as_view(), name="api-pipelines"),
    path("v1/pipelines/<int:pk>/", sales_api.PipelineItemView.as_view(), name="api-pipeline"),
    path("v1/pipelines/<int:pk>/stages/", sales_api.StageCreateView.as_view(), name="api-pipeline-stages"),
    path("v1/stages/<int:pk>/", sales_api.StageUpdateView.as_view(), name="api-stage"),
    path("v1/lost-reasons/", sales_api.LostReasonListView.as_view(), name="api-lost-reasons"),
    path("v1/deals/<int:pk>/move/", sales_api.DealMoveView.as_view(), name="api-deal-move"),
    path(
        "v1/activities/<int:pk>/complete/", activities_api.ActivityCompleteView.as_view(), name="api-activity-complete"
    ),
]

for _rtype in registry.all_types():
    _views = views.views_for(_rtype)
    urlpatterns += [
        path(f"v1/{_rtype.key}/", _views["list"].as_view(), name=f"api-{_rtype.key}-list"),
        path(f"v1/{_rtype.key}/export/", _views["export"].as_view(), name=f"api-{_rtype.key}-export"),
        path(f"v1/{_rtype.key}/<int:pk>/", _views["detail"].as_view(), name=f"api-{_rtype.key}-detail"),
        path(f"v1/{_rtype.key}/<int:pk>/restore/", _views["restore"].as_view(), name=f"api-{_rtype.key}-restore"),
        path(f"v1/{_rtype.key}/<int:pk>/history/", _views["history"].as_view(), name=f"api-{_rtype.key}-history"),
    ]
