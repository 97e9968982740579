from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "routerhub.embeddings"
    label = "embeddings"
    verbose_name = "Embeddings"
