from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from routerhub.gateway.selectors import model_names_for_tenant


class ModelListApi(APIView):
    """`GET /v1/models`: the OpenAI model list of what this tenant may call."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        object = serializers.CharField(default="model")
        created = serializers.IntegerField(default=0)
        owned_by = serializers.CharField(default="routerhub")

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        names = model_names_for_tenant(tenant=request.user.tenant)
        data = self.OutputSerializer([{"id": name} for name in names], many=True).data
        return Response({"object": "list", "data": data})
