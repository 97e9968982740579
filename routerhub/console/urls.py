from django.contrib.auth import views as auth_views
from django.urls import path

from routerhub.console import views

app_name = "console"

urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tenants/", views.TenantListView.as_view(), name="tenants"),
    path("tenants/<slug:slug>/", views.TenantDetailView.as_view(), name="tenant"),
    path("routers/", views.RouterListView.as_view(), name="routers"),
    path("routers/<int:pk>/", views.RouterDetailView.as_view(), name="router"),
    path("routers/<int:pk>/<str:action>/", views.RouterActionView.as_view(), name="router-action"),
    path("training/", views.TrainingListView.as_view(), name="training"),
    path("training/<int:pk>/", views.TrainingDetailView.as_view(), name="run"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/<uuid:pk>/", views.RequestDetailView.as_view(), name="request"),
    path("arena/", views.ArenaView.as_view(), name="arena"),
    path("audit/", views.AuditView.as_view(), name="audit"),
]
