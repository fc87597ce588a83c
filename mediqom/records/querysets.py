"""Per-user scoping of every records table: the ORM mirror of the RLS policies (migration 0002).

`for_user(user)` is the only way api/, consumers and tasks reach rows; a row outside it is a
404 identical to a missing row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from django.db import models
from django.db.models import Exists, OuterRef, Q

if TYPE_CHECKING:
    from mediqom.records.models import (  # noqa: F401 - named in QuerySet["..."] below
        Document,
        Key,
        PrivateKey,
        Profile,
        ProfileLink,
        RecoveryAttempt,
        Subscription,
    )


class HasId(Protocol):
    @property
    def id(self) -> UUID: ...


class ProfileQuerySet(models.QuerySet["Profile"]):
    def for_user(self, user: HasId) -> ProfileQuerySet:
        """Own profile, profiles the user owns, and profiles linked under the user."""
        from mediqom.records.models import ProfileLink

        linked = ProfileLink.objects.filter(parent_id=user.id, profile_id=OuterRef("pk"))
        return self.filter(Q(pk=user.id) | Q(owner_id=user.id) | Exists(linked))

    def owned_by(self, user: HasId) -> ProfileQuerySet:
        """Profiles the user may change: itself and the virtual profiles it created."""
        return self.filter(Q(pk=user.id) | Q(owner_id=user.id))


class PrivateKeyQuerySet(models.QuerySet["PrivateKey"]):
    def for_user(self, user: HasId) -> PrivateKeyQuerySet:
        """The user's own key row and those of the profiles it owns."""
        return self.filter(Q(profile_id=user.id) | Q(profile__owner_id=user.id))


class ProfileLinkQuerySet(models.QuerySet["ProfileLink"]):
    def for_user(self, user: HasId) -> ProfileLinkQuerySet:
        """Links where the user is the parent or the child."""
        return self.filter(Q(parent_id=user.id) | Q(profile_id=user.id))


class DocumentQuerySet(models.QuerySet["Document"]):
    def for_user(self, user: HasId) -> DocumentQuerySet:
        """Documents the user holds a key grant for."""
        from mediqom.records.models import Key

        grant = Key.objects.filter(document_id=OuterRef("pk"), user_id=user.id)
        return self.filter(Exists(grant))


class KeyQuerySet(models.QuerySet["Key"]):
    def for_user(self, user: HasId) -> KeyQuerySet:
        """Grants addressed to the user, and grants the user wrote."""
        return self.filter(Q(user_id=user.id) | Q(author_id=user.id))


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def for_user(self, user: HasId) -> SubscriptionQuerySet:
        return self.filter(pk=user.id)


class RecoveryAttemptQuerySet(models.QuerySet["RecoveryAttempt"]):
    def for_user(self, user: HasId) -> RecoveryAttemptQuerySet:
        return self.filter(user_id=user.id)


def scoped(queryset: Any, user: HasId) -> Any:
    """Shorthand used by selectors: `scoped(Model.objects, user)`."""
    return queryset.for_user(user)
