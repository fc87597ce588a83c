"""Per-user scoping of every records table: the ORM mirror of the RLS policies (migration 0002).

`for_user(user)` is the only way api/, consumers and tasks reach rows; a row outside it is a
404 identical to a missing row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from django.db import models
from django.db.models import Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.functions import Cast

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

    def with_write_access(self, user: HasId) -> ProfileQuerySet:
        """Annotate `can_write`: the user may add documents to the profile (RLS
        `can_write_profile`): itself, a profile it owns, or one it is an approved parent of."""
        from mediqom.records.models import ProfileLink

        approved = ProfileLink.objects.filter(
            parent_id=user.id, profile_id=OuterRef("pk"), status="approved"
        )
        can_write = Q(pk=user.id) | Q(owner_id=user.id) | Exists(approved)
        return self.annotate(
            can_write=ExpressionWrapper(can_write, output_field=models.BooleanField())
        )

    def owned_virtual(self, user: HasId) -> ProfileQuerySet:
        """The family (virtual) profiles the user created: no auth user of their own."""
        return self.filter(owner_id=user.id, auth_id__isnull=True)


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

    def in_visible_profile(self, user: HasId, profile_id: UUID) -> DocumentQuerySet:
        """Documents of one profile, only when the user may see that profile at all."""
        from mediqom.records.models import Profile

        # Not correlated with the document row (every row has this profile): PostgreSQL
        # checks the profile once per query instead of once per document (bench/README.md).
        visible = Profile.objects.for_user(user).filter(pk=profile_id)
        return self.filter(Exists(visible), profile_id=profile_id)

    def owner_granted_to(self, user: HasId) -> DocumentQuerySet:
        """Documents the user may change: it holds the grant (owner_id = the document's
        profile, user_id = the user), as RLS `holds_owner_key`."""
        from mediqom.records.models import Key

        grant = Key.objects.filter(
            document_id=OuterRef("pk"), owner_id=OuterRef("profile_id"), user_id=user.id
        )
        return self.filter(Exists(grant))

    def mentioning(self, text: str) -> DocumentQuerySet:
        """Documents whose `attachments` mention `text` (coarse; callers parse the refs)."""
        return self.annotate(
            attachments_text=Cast("attachments", output_field=models.TextField())
        ).filter(attachments_text__contains=text)


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
