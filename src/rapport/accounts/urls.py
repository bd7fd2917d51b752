from django.urls import path

from . import settings_views as sv
from . import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("account/", views.profile, name="account-profile"),
    path("account/password/", views.password_change, name="account-password"),
    path("password-reset/", views.password_reset, name="password-reset"),
    path("password-reset/sent/", views.password_reset_sent, name="password-reset-sent"),
    path("password-reset/done/", views.password_reset_done, name="password-reset-done"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("settings/", sv.index, name="settings"),
    path("settings/users/", sv.user_list, name="settings-users"),
    path("settings/users/new/", sv.user_create, name="settings-user-create"),
    path("settings/users/<int:pk>/", sv.user_edit, name="settings-user-edit"),
    path("settings/users/<int:pk>/deactivate/", sv.user_deactivate, name="settings-user-deactivate"),
    path("settings/users/<int:pk>/reactivate/", sv.user_reactivate, name="settings-user-reactivate"),
    path("settings/teams/", sv.team_list, name="settings-teams"),
    path("settings/teams/<int:pk>/", sv.team_edit, name="settings-team-edit"),
    path("settings/teams/<int:pk>/delete/", sv.team_delete, name="settings-team-delete"),
    path("settings/roles/", sv.role_list, name="settings-roles"),
    path("settings/roles/<int:pk>/", sv.role_edit, name="settings-role-edit"),
    path("settings/fields/", sv.field_index, name="settings-fields"),
    path("settings/fields/<str:type_key>/", sv.field_list, name="settings-field-list"),
    path("settings/fields/<str:type_key>/new/", sv.field_create, name="settings-field-create"),
    path("settings/fields/<str:type_key>/<int:pk>/", sv.field_edit, name="settings-field-edit"),
    path("settings/fields/<str:type_key>/<int:pk>/delete/", sv.field_delete, name="settings-field-delete"),
    path("settings/audit/", sv.audit_trail, name="settings-audit"),
    path("settings/tokens/", sv.token_list, name="settings-tokens"),
    path("settings/tokens/<int:pk>/revoke/", sv.token_revoke, name="settings-token-revoke"),
]
