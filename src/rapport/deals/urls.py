"""Sales pages: the deals board, the selling actions of a deal's page, deals on person and company
pages, lead conversion, pipelines settings."""

from django.urls import path

from .views import board as views
from .views import deal as deal_views

urlpatterns = [
    path("deals/board/", views.board_page, name="deal-board"),
    path("deals/board/column/<int:stage_id>/", views.board_column, name="deal-board-column"),
    path("deals/<int:pk>/move/", views.move, name="deal-move"),
    path("deals/<int:pk>/card/", views.card, name="deal-card"),
    path("deals/related/", views.related_deals, name="deal-related"),
    path("deals/<int:pk>/stage/", deal_views.move_to_stage, name="deal-stage"),
    path("deals/<int:pk>/won/", deal_views.mark_won, name="deal-won"),
    path("deals/<int:pk>/lost/", deal_views.mark_lost, name="deal-lost"),
    path("deals/<int:pk>/reopen/", deal_views.reopen, name="deal-reopen"),
    path("deals/<int:pk>/next-activity/", deal_views.next_activity, name="deal-next-activity"),
    path("deals/convert/<int:person_id>/", views.convert_lead, name="deal-convert-lead"),
    path("settings/pipelines/", views.pipeline_list, name="settings-pipelines"),
    path("settings/pipelines/<int:pk>/", views.pipeline_edit, name="settings-pipeline-edit"),
    path("settings/stages/<int:pk>/", views.stage_action, name="settings-stage-action"),
    path("settings/stages/<int:pk>/delete/", views.stage_delete, name="settings-stage-delete"),
    path("settings/lost-reasons/", views.lost_reason_action, name="settings-lost-reason-add"),
    path("settings/lost-reasons/<int:pk>/", views.lost_reason_action, name="settings-lost-reason"),
]
