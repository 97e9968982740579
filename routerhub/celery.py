"""The Celery app, wired the standard way: settings under the CELERY_ namespace, tasks found
in each installed app's tasks.py. Queues: `default` for light jobs, `training` for training runs."""
import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routerhub.settings")

app = Celery("routerhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("training"))
app.autodiscover_tasks()
