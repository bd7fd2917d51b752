"""Pipeline, stage, lost-reason and deal-move endpoints under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("v1/pipelines/", views.PipelineCollectionView.as_view(), name="api-pipelines"),
    path("v1/pipelines/<int:pk>/", views.PipelineItemView.as_view(), name="api-pipeline"),
    path("v1/pipelines/<int:pk>/stages/", views.StageCreateView.as_view(), name="api-pipeline-stages"),
    path("v1/stages/<int:pk>/", views.StageUpdateView.as_view(), name="api-stage"),
    path("v1/lost-reasons/", views.LostReasonListView.as_view(), name="api-lost-reasons"),
    path("v1/deals/<int:pk>/move/", views.DealMoveView.as_view(), name="api-deal-move"),
]
