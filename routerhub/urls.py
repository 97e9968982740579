from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from feedback.apis import FeedbackApi, PreferenceApi
from routerhub.gateway.apis import (
    ChatCompletionApi,
    CompletionApi,
    EmbeddingsApi,
    ModelListApi,
    ModelRetrieveApi,
    RequestDetailApi,
)
from routerhub.ops.apis import HealthApi
from routerhub.ops.metrics import metrics_view

urlpatterns = [
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("console/", include("routerhub.console.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("v1/models", ModelListApi.as_view(), name="model-list"),
    path("v1/models/<path:model_id>", ModelRetrieveApi.as_view(), name="model-retrieve"),
    path("v1/chat/completions", ChatCompletionApi.as_view(), name="chat-completions"),
    path("v1/completions", CompletionApi.as_view(), name="completions"),
    path("v1/embeddings", EmbeddingsApi.as_view(), name="embeddings"),
    path("v1/requests/<uuid:request_id>", RequestDetailApi.as_view(), name="request-detail"),
    path("v1/feedback", FeedbackApi.as_view(), name="feedback"),
    path("v1/preferences", PreferenceApi.as_view(), name="preferences"),
]

# /v1/ errors outside the API views (an unknown path, a malformed id, a failure) are OpenAI JSON too
handler400 = "routerhub.errors.bad_request"
handler404 = "routerhub.errors.not_found"
handler500 = "routerhub.errors.server_error"
