from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from routerhub.ops.selectors import service_health


class HealthApi(APIView):
    """`GET /healthz`: 200 when the database (with pgvector) and the broker answer, else 503, within
    ROUTERHUB_HEALTH_DEADLINE_S whatever is stuck. Anonymous callers (load balancers, probes) learn
    only whether it is up and what is down; signed-in staff also see versions, errors and the
    worker's last heartbeat."""

    authentication_classes = [SessionAuthentication]  # the console's session, when there is one
    permission_classes = [permissions.AllowAny]

    @extend_schema_serializer(component_name="Health")
    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        down = serializers.ListField(child=serializers.CharField())
        database = serializers.DictField(required=False, help_text="Signed-in staff only.")
        broker = serializers.DictField(required=False, help_text="Signed-in staff only.")
        worker = serializers.DictField(required=False, help_text="Signed-in staff only.")

    @extend_schema(responses={200: OutputSerializer, 503: OutputSerializer})
    def get(self, request):
        report = service_health()
        user = request.user
        if not (user is not None and user.is_authenticated and user.is_staff):
            report = {"ok": report["ok"], "down": report["down"]}
        return Response(self.OutputSerializer(report).data, status=200 if report["ok"] else 503)
