from __future__ import annotations

from django.db import transaction
from django.urls import path

from crypto_app.api import views

# The recovery views commit their attempt rows themselves; never wrap them in a request-wide
# transaction (ATOMIC_REQUESTS), whose rollback would erase the record of a failed attempt.
_own_transactions = transaction.non_atomic_requests

urlpatterns = [
    path(
        "settings/encryption",
        views.EncryptionSettingsApi.as_view(),
        name="settings-encryption",
    ),
    path(
        "recover/verify",
        _own_transactions(views.RecoverVerifyApi.as_view()),
        name="recover-verify",
    ),
    path(
        "recover/update",
        _own_transactions(views.RecoverUpdateApi.as_view()),
        name="recover-update",
    ),
    path(
        "recover/update-recovery",
        _own_transactions(views.RecoverUpdateRecoveryApi.as_view()),
        name="recover-update-recovery",
    ),
]
