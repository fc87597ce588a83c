"""Per-user scoping of the billing tables: the ORM mirror of their RLS policies (migration 0002)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from mediqom.records.querysets import HasId

if TYPE_CHECKING:
    from mediqom.billing.models import (  # noqa: F401 - named in QuerySet["..."] below
        CheckoutSession,
        PurchaseEvent,
    )


class CheckoutSessionQuerySet(models.QuerySet["CheckoutSession"]):
    def for_user(self, user: HasId) -> CheckoutSessionQuerySet:
        """Checkout sessions the user started."""
        return self.filter(user_id=user.id)


class PurchaseEventQuerySet(models.QuerySet["PurchaseEvent"]):
    def for_user(self, user: HasId) -> PurchaseEventQuerySet:
        """The user's own billing history."""
        return self.filter(user_id=user.id)
