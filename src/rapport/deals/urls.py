"""Sales pages: the deals board, deals on person and company pages, lead conversion, pipelines settings."""

from django.urls import path

from .views import board as views

urlpatterns = [
    path("deals/board/", views.board_page, name="deal-board"),
    path("deals/board/column/<int:stage_id>/", views.board_column, name="deal-board-column"),
    path("deals/<int:pk>/move/", views.move, name="deal-move"),
    path("deals/<int:pk>/card/", views.card, name="deal-card"),
    path("deals/related/", views.related_deals, name="deal-related"),
    path("deals/convert/<int:person_id>/", views.convert_lead, name="deal-convert-lead"),
    path("settings/pipelines/", views.pipeline_list, name="settings-pipelines"),
    path("settings/pipelines/<int:pk>/", views.pipeline_edit, name="settings-pipeline-edit"),
    path("settings/stages/<int:pk>/", views.stage_action, name="settings-stage-action"),
    path("settings/stages/<int:pk>/delete/", views.stage_delete, name="settings-stage-delete"),
    path("settings/lost-reasons/", views.lost_reason_action, name="settings-lost-reason-add"),
    path("settings/lost-reasons/<int:pk>/", views.lost_reason_action, name="settings-lost-reason"),
]
