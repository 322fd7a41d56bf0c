"""The shop's own words for an order's status, carrier and currency, mapped to ours.

Every shop system says it differently ("on-hold", "PARTIALLY_FULFILLED", "Dispatched"),
and the agent and the gate reason about one small set of states. The shop's text is
always kept beside the state, and a word nobody mapped becomes `unknown`, never a
rejected order: an owner's first import must not lose half their orders. The owner
overrides any default in settings (docs/formats.md lists them).
"""

from __future__ import annotations

import re
from enum import StrEnum

from settings import ConfigError, Settings


class OrderState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PROCESSING = "processing"
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURNED = "returned"
    UNKNOWN = "unknown"


class ShopSystem(StrEnum):
    """Whose vocabulary a status is in."""

    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    TEXT = "text"  # our JSON import, the signed endpoint and anything else


def normal(word: str | None) -> str:
    """Lower case, separators as spaces: "On-Hold", "on_hold" and "on hold" are one word."""
    return re.sub(r"[\s_-]+", " ", (word or "").strip().lower())


S = OrderState
# Shopify's financial status decides only where payment is the story; otherwise the
# fulfillment status does ("paid" + "fulfilled" is shipped).
SHOPIFY_FINANCIAL = {
    "pending": S.AWAITING_PAYMENT,
    "partially paid": S.AWAITING_PAYMENT,
    "refunded": S.REFUNDED,
    "voided": S.CANCELLED,
    "expired": S.CANCELLED,
}
SHOPIFY_FULFILLMENT = {
    "unfulfilled": S.PROCESSING,
    "": S.PROCESSING,
    "open": S.PROCESSING,
    "scheduled": S.PROCESSING,
    "in progress": S.PROCESSING,
    "pending fulfillment": S.PROCESSING,
    "request declined": S.PROCESSING,
    "partial": S.SHIPPED,
    "partially fulfilled": S.SHIPPED,
    "fulfilled": S.SHIPPED,
    "on hold": S.ON_HOLD,
    "restocked": S.RETURNED,
}
WOOCOMMERCE = {
    "pending": S.AWAITING_PAYMENT,
    "failed": S.AWAITING_PAYMENT,
    "checkout draft": S.AWAITING_PAYMENT,
    "processing": S.PROCESSING,
    "on hold": S.ON_HOLD,
    "completed": S.SHIPPED,
    "cancelled": S.CANCELLED,
    "refunded": S.REFUNDED,
}
# Free text: the words shop systems, spreadsheets and marketplaces use most.
TEXT_WORDS = {
    S.AWAITING_PAYMENT: "awaiting payment, pending payment, unpaid, payment pending, "
    "payment failed",
    S.PROCESSING: "pending, processing, processed, confirmed, paid, new, open, received, placed, "
    "accepted, preparing, packed, picked, ready to ship, awaiting fulfillment, awaiting shipment, "
    "unfulfilled, in progress",
    S.ON_HOLD: "on hold, hold, held, backordered, back ordered, paused, awaiting stock",
    S.SHIPPED: "shipped, dispatched, sent, in transit, out for delivery, fulfilled, "
    "partially shipped, completed, complete",
    S.DELIVERED: "delivered, arrived",
    S.CANCELLED: "cancelled, canceled, voided, void, rejected, declined",
    S.REFUNDED: "refunded, fully refunded",
    S.RETURNED: "returned, return received, restocked",
}
TEXT = {
    **{word.strip(): state for state, words in TEXT_WORDS.items() for word in words.split(",")},
    **{normal(state.value): state for state in OrderState},
}

# Carriers as shops write them, and where a customer tracks a parcel.
CARRIERS = {
    "UPS": "ups, united parcel service, ups ground",
    "USPS": "usps, united states postal service, us postal service",
    "FedEx": "fedex, federal express, fedex ground",
    "DHL": "dhl, dhl express, dhl parcel, dhl paket, deutsche post dhl",
    "DPD": "dpd",
    "GLS": "gls",
    "Royal Mail": "royal mail, royalmail",
    "Evri": "evri, hermes, hermes uk",
    "PostNL": "postnl, post nl",
    "Canada Post": "canada post, postes canada",
    "Australia Post": "australia post, auspost",
    "La Poste": "la poste, colissimo",
}
TRACKING_URLS = {
    "UPS": "https://www.ups.com/track?tracknum={number}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "DHL": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "DPD": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "GLS": "https://gls-group.com/track/{number}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "Evri": "https://www.evri.com/track/parcel/{number}",
    "PostNL": "https://jouw.postnl.nl/track-and-trace/{number}",
    "Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
    "Australia Post": "https://auspost.com.au/mypost/track/details/{number}",
    "La Poste": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
}

# ISO 4217 codes in use, and the symbols and names shops write instead.
CURRENCY_CODES = frozenset(
    " ".join(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL",
            "BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP",
            "ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR",
            "IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL",
            "LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR",
            "NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD",
            "SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD",
            "UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL",
        )
    ).split()
)
CURRENCY_WORDS = {
    "$": "USD",
    "us$": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "us dollar": "USD",
    "€": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "pound sterling": "GBP",
    "¥": "JPY",
    "yen": "JPY",
    "₹": "INR",
    "rupee": "INR",
    "rupees": "INR",
    "c$": "CAD",
    "ca$": "CAD",
    "a$": "AUD",
    "au$": "AUD",
    "chf": "CHF",
    "fr.": "CHF",
    "kr": "SEK",
    "zł": "PLN",
    "zl": "PLN",
    "r$": "BRL",
    "₩": "KRW",
    "元": "CNY",
    "rmb": "CNY",
}
NO_CURRENCY = "XXX"  # ISO 4217's code for "no currency": the total is shown without one


class Vocabulary:
    """The default mappings with the owner's overrides from settings on top.

    `statuses` maps a shop word, optionally prefixed by its system ("woocommerce:
    awaiting-pickup"), to a state; `carriers` maps a carrier as the shop writes it to
    `{"name", "tracking_url"}` (either optional, `{number}` in the URL); `currencies`
    maps a symbol or name to an ISO code.
    """

    def __init__(
        self,
        *,
        statuses: dict[str, str] | None = None,
        carriers: dict[str, dict[str, str]] | None = None,
        currencies: dict[str, str] | None = None,
    ) -> None:
        self._statuses: dict[tuple[str | None, str], OrderState] = {}
        for key, state in (statuses or {}).items():
            system, _, word = key.rpartition(":") if ":" in key else ("", "", key)
            self._statuses[(system.strip().lower() or None, normal(word))] = OrderState(state)
        self._carriers = {
            normal(alias): name
            for name, aliases in CARRIERS.items()
            for alias in aliases.split(",")
        }
        self._tracking = dict(TRACKING_URLS)
        for alias, entry in (carriers or {}).items():
            name = entry.get("name") or alias
            self._carriers[normal(alias)] = name
            if entry.get("tracking_url"):
                self._tracking[name] = entry["tracking_url"]
        self._currencies = {normal(word): code for word, code in CURRENCY_WORDS.items()}
        self._currencies.update({normal(w): c.upper() for w, c in (currencies or {}).items()})

    @classmethod
    def from_settings(cls, settings: Settings) -> Vocabulary:
        """The owner's overrides (SUPPORT_ORDER_STATUSES, _CARRIERS, _CURRENCIES) on top."""
        states = {state.value for state in OrderState}
        for word, state in settings.order_statuses.items():
            if state not in states:
                raise ConfigError(
                    f"SUPPORT_ORDER_STATUSES: {word!r} maps to {state!r}, which is not one of "
                    + ", ".join(sorted(states))
                )
        return cls(
            statuses=settings.order_statuses,
            carriers=settings.carriers,
            currencies=settings.currencies,
        )

    def _override(self, system: ShopSystem, word: str) -> OrderState | None:
        return self._statuses.get((str(system), word)) or self._statuses.get((None, word))

    def state(self, status: str | None, *, system: ShopSystem = ShopSystem.TEXT) -> OrderState:
        """A status in one system's words as our state; `unknown` when nobody mapped it."""
        word = normal(status)
        if (override := self._override(system, word)) is not None:
            return override
        table = WOOCOMMERCE if str(system) == ShopSystem.WOOCOMMERCE else TEXT
        return table.get(word, OrderState.UNKNOWN)

    def shopify_state(self, financial: str | None, fulfillment: str | None) -> OrderState:
        """Shopify's two statuses as one state: payment problems first, then shipping."""
        money, shipping = normal(financial), normal(fulfillment)
        for word in (f"{money} / {shipping}", shipping, money):
            if (override := self._override(ShopSystem.SHOPIFY, word)) is not None:
                return override
        if money in SHOPIFY_FINANCIAL:
            return SHOPIFY_FINANCIAL[money]
        return SHOPIFY_FULFILLMENT.get(shipping, OrderState.UNKNOWN)

    def carrier(self, name: str | None) -> str | None:
        """The carrier's usual name, or the shop's text as it is when we do not know it."""
        if not name or not name.strip():
            return None
        return self._carriers.get(normal(name), name.strip())

    def tracking_url(self, carrier: str | None, number: str | None) -> str | None:
        template = self._tracking.get(carrier or "")
        if not template or not number:
            return None
        return template.replace("{number}", re.sub(r"\s", "", number))

    def currency(self, text: str | None) -> str:
        """An ISO 4217 code; `XXX` (no currency) for a word nobody mapped."""
        word = (text or "").strip()
        if word.upper() in CURRENCY_CODES:
            return word.upper()
        return self._currencies.get(normal(word), NO_CURRENCY)


PLAIN_WORDS = {
    S.AWAITING_PAYMENT: "waiting for payment",
    S.PROCESSING: "being prepared, not shipped yet",
    S.ON_HOLD: "on hold",
    S.SHIPPED: "shipped, on its way",
    S.DELIVERED: "delivered",
    S.CANCELLED: "cancelled",
    S.REFUNDED: "refunded",
    S.RETURNED: "returned to the shop",
    S.UNKNOWN: "not one we can describe yet",
}
