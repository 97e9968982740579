from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by the `ops.worker_heartbeat` task: proof that a Celery worker consumes the queue."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
