import os

from django.core.wsgi import get_wsgi_application

from routerhub.embedded import environment_ensure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routerhub.settings")
environment_ensure()  # the embedded servers, unless DATABASE_URL / CELERY_BROKER_URL name servers
application = get_wsgi_application()
