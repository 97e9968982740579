"""Feedback API (tenant key auth): thumbs on a request, pairwise preferences."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from feedback.services import FeedbackError, feedback_rate, preference_submit
from routerhub.errors import ApiError
from routerhub.gateway.selectors import request_for_tenant


def _api_error(exc: FeedbackError) -> ApiError:
    return ApiError(str(exc), status_code=exc.status, code=exc.code, param=exc.param,
                    type="invalid_request_error")


def _tenant_request(*, tenant, request_id):
    """One of the tenant's logged requests; another tenant's is as unknown as a made-up id (404)."""
    found = request_for_tenant(tenant=tenant, request_id=request_id)
    if found is None:
        raise _api_error(FeedbackError(f"No request {request_id} for this API key's tenant.", status=404,
                                       code="request_not_found", param="request_id"))
    return found


class FeedbackApi(APIView):
    """`POST /v1/feedback`: thumbs up or down on one of the tenant's requests (by the
    `x-routerhub-request-id` it got). One rating per request: a second one replaces the first."""

    @extend_schema_serializer(component_name="FeedbackInput")
    class InputSerializer(serializers.Serializer):
        request_id = serializers.UUIDField()
        rating = serializers.ChoiceField(choices=["up", "down"])
        comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")

    @extend_schema_serializer(component_name="Feedback")
    class OutputSerializer(serializers.Serializer):
        request_id = serializers.UUIDField(source="request.pk")
        rating = serializers.CharField()
        comment = serializers.CharField()
        created = serializers.DateTimeField()
        updated = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = _valid(self.InputSerializer, request)
        tenant = request.user.tenant
        try:
            feedback = feedback_rate(tenant=tenant, request=_tenant_request(tenant=tenant, request_id=data["request_id"]),
                                     rating=data["rating"], comment=data["comment"])
        except FeedbackError as exc:
            raise _api_error(exc) from None
        return Response(self.OutputSerializer(feedback).data, status=status.HTTP_201_CREATED)


class PreferenceApi(APIView):
    """`POST /v1/preferences`: which of two answers was better, from the tenant's own UI. About one
    of its requests (`request_id`; the prompt is that request's) or a `prompt` given here."""

    @extend_schema_serializer(component_name="PreferenceInput")
    class InputSerializer(serializers.Serializer):
        request_id = serializers.UUIDField(required=False, allow_null=True)
        prompt = serializers.CharField(required=False, allow_blank=True, max_length=200_000)
        model_a = serializers.CharField(min_length=1, max_length=128, help_text="A configured model (GET /v1/models).")
        model_b = serializers.CharField(min_length=1, max_length=128, help_text="A configured model (GET /v1/models).")
        response_a = serializers.CharField(required=False, allow_blank=True, max_length=200_000)
        response_b = serializers.CharField(required=False, allow_blank=True, max_length=200_000)
        winner = serializers.ChoiceField(choices=["model_a", "model_b", "tie"])

    @extend_schema_serializer(component_name="Preference")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        request_id = serializers.UUIDField(allow_null=True)
        model_a = serializers.CharField()
        model_b = serializers.CharField()
        winner = serializers.CharField()
        source = serializers.CharField()
        created = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = _valid(self.InputSerializer, request)
        tenant = request.user.tenant
        request_id = data.pop("request_id", None)
        logged = _tenant_request(tenant=tenant, request_id=request_id) if request_id else None
        try:
            preference = preference_submit(tenant=tenant, request=logged, **data)
        except FeedbackError as exc:
            raise _api_error(exc) from None
        return Response(self.OutputSerializer(preference).data, status=status.HTTP_201_CREATED)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
