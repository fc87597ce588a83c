"""Input of the billing and beta routes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from rest_framework import serializers

from mediqom.billing.models import BILLING_CYCLES, BetaApplication

_HTTP_URL = URLValidator(schemes=["http", "https"])


class CheckoutInput(serializers.Serializer):  # type: ignore[type-arg]
    """`{tier_id, billing_cycle}` for a subscription or `{pack_id}` for a scan pack."""

    tier_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64
    )
    billing_cycle = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=16
    )
    pack_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64
    )
    return_url = serializers.CharField(max_length=2048, validators=[_HTTP_URL])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("pack_id"):
            return {"pack_id": attrs["pack_id"], "return_url": attrs["return_url"]}
        if not attrs.get("tier_id"):
            raise serializers.ValidationError({"tier_id": "tier_id is required"})
        if attrs.get("billing_cycle") not in BILLING_CYCLES:
            raise serializers.ValidationError(
                {"billing_cycle": 'billing_cycle must be "monthly" or "yearly"'}
            )
        return {
            "tier_id": attrs["tier_id"],
            "billing_cycle": attrs["billing_cycle"],
            "return_url": attrs["return_url"],
        }


class PortalInput(serializers.Serializer):  # type: ignore[type-arg]
    return_url = serializers.CharField(max_length=2048, validators=[_HTTP_URL])


# ---------------------------------------------------------------- beta application
# The reference validates with zod and answers `details = error.flatten()`:
# {"formErrors": [...], "fieldErrors": {field: [messages]}}. Same rules, same messages; plus
# upper bounds on lengths (the reference has none).

_ENUMS: dict[str, tuple[str, ...]] = {
    "user_type": BetaApplication.USER_TYPES,
    "data_volume": BetaApplication.DATA_VOLUMES,
    "timeline": BetaApplication.TIMELINES,
    "country": BetaApplication.COUNTRIES,
    "language": BetaApplication.LANGUAGES,
}
# field: (minimum length, message below it, maximum length)
_TEXTS: dict[str, tuple[int, str, int]] = {
    "problem_description": (10, "Please provide more detail about your problem", 5000),
    "current_solution": (10, "Please provide more detail about your current solution", 5000),
    "name": (2, "Name is required", 200),
}
_OPTIONAL_TEXTS: dict[str, int] = {"phone": 50, "organization": 200, "additional_info": 5000}
_AGREEMENTS: dict[str, str] = {
    "beta_agreement": "You must agree to beta terms",
    "feedback_agreement": "You must agree to provide feedback",
    "confidentiality_agreement": "You must agree to confidentiality",
    "terms_agreement": "You must agree to terms of service",
}
_EMAIL_MAX = 254


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def beta_application_parse(body: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(fields to store, None) for a valid body, else (None, zod-style flattened errors)."""
    if not isinstance(body, dict):
        return None, {"formErrors": [f"Expected object, received {_type_name(body)}"],
                      "fieldErrors": {}}  # fmt: skip
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    def text(field: str, *, required: bool = True) -> str | None:
        value = body.get(field)
        if value is None and (not required or field not in body):
            if required:
                fail(field, "Required")
            return None
        if not isinstance(value, str):
            fail(field, f"Expected string, received {_type_name(value)}")
            return None
        return value

    for field, choices in _ENUMS.items():
        value = text(field)
        if value is not None:
            if value in choices:
                data[field] = value
            else:
                expected = " | ".join(f"'{choice}'" for choice in choices)
                fail(field, f"Invalid enum value. Expected {expected}, received '{value}'")
    for field, (minimum, message, maximum) in _TEXTS.items():
        value = text(field)
        if value is not None:
            if len(value) < minimum:
                fail(field, message)
            elif len(value) > maximum:
                fail(field, f"String must contain at most {maximum} character(s)")
            else:
                data[field] = value
    email = text("email")
    if email is not None:
        email = email.strip()
        try:
            if len(email) > _EMAIL_MAX:
                raise DjangoValidationError("too long")
            validate_email(email)
            data["email"] = email
        except DjangoValidationError:
            fail("email", "Valid email is required")
    for field, maximum in _OPTIONAL_TEXTS.items():
        value = text(field, required=False)
        if value is not None:
            if len(value) > maximum:
                fail(field, f"String must contain at most {maximum} character(s)")
            else:
                data[field] = value or None
    for field, message in _AGREEMENTS.items():
        if body.get(field) is True:
            data[field] = True
        else:
            fail(field, message)
    if errors:
        return None, {"formErrors": [], "fieldErrors": errors}
    return data, None
