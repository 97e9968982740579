from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from routerhub.ops.selectors import service_health


class HealthApi(APIView):
    """`GET /healthz`: 200 when the database (with pgvector) and the broker answer, else 503."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema_serializer(component_name="Health")
    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        database = serializers.DictField()
        broker = serializers.DictField()
        worker = serializers.DictField(required=False)
        down = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses={200: OutputSerializer, 503: OutputSerializer})
    def get(self, request):
        report = service_health()
        return Response(self.OutputSerializer(report).data, status=200 if report["ok"] else 503)
