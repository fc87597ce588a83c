"""The official Stripe client, configured from settings; price ids of the catalogue's products."""

from __future__ import annotations

import stripe
from django.conf import settings

from mediqom.errors import ApiError
from mediqom.records.models import ScanPack, SubscriptionTier


class StripeNotConfigured(ApiError):
    status = 503
    code = "stripe_not_configured"
    default_message = "Payments are not configured on this server"


class StripeUnavailable(ApiError):
    status = 502
    code = "stripe_error"
    default_message = "The payment provider could not complete the request"


def require_configured() -> str:
    """STRIPE_SECRET_KEY, or 503 `stripe_not_configured` when it is not set."""
    key = settings.STRIPE_SECRET_KEY
    if not key:
        raise StripeNotConfigured()
    return str(key)


def stripe_client() -> stripe.StripeClient:
    """A client for STRIPE_SECRET_KEY at STRIPE_API_BASE; 503 when no key is configured."""
    return stripe.StripeClient(
        require_configured(),
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.new_default_http_client(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def tier_price_id(tier: SubscriptionTier, cycle: str) -> str | None:
    """The Stripe price of a tier and billing cycle: the setting, else the catalogue row."""
    configured = settings.STRIPE_PRICES.get(f"{tier.id}.{cycle}")
    if configured:
        return str(configured)
    column = tier.stripe_price_yearly_eur if cycle == "yearly" else tier.stripe_price_monthly_eur
    return column or None


def pack_price_id(pack: ScanPack) -> str | None:
    """The Stripe price of a scan pack: the setting, else the catalogue row."""
    configured = settings.STRIPE_PRICES.get(pack.id)
    if configured:
        return str(configured)
    return pack.stripe_price_id or None


def tier_for_price(price_id: str) -> SubscriptionTier | None:
    """The active tier sold at this Stripe price (either cycle), if any."""
    for tier in SubscriptionTier.objects.filter(is_active=True):
        if price_id in (tier_price_id(tier, "monthly"), tier_price_id(tier, "yearly")):
            return tier
    return None
