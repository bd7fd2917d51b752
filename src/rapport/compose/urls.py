from django.urls import path

from .views import public

urlpatterns = [
    path("email/t/o/<str:token>.gif", public.open_pixel, name="email-open"),
    path("email/t/c/<str:token>/", public.click, name="email-click"),
    path("email/unsubscribe/<str:token>/", public.unsubscribe_page, name="email-unsubscribe"),
]
