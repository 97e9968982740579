from celery import shared_task

from routerhub.ops.services import worker_heartbeat_record


@shared_task(name="ops.worker_heartbeat", bind=True, soft_time_limit=10, time_limit=20, ignore_result=True)
def worker_heartbeat(self) -> None:
    worker_heartbeat_record(hostname=self.request.hostname or "unknown")
