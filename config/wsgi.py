from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# The hottest read in one round trip, before Django's handler (mediqom/api/fast_wsgi.py);
# anything it does not handle goes to `django_application` unchanged.
django_application = application
if settings.MEDIQOM_FAST_READS:
    from mediqom.api.fast_wsgi import FastReads

    application = FastReads(django_application)  # type: ignore[assignment]
