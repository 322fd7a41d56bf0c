"""The shop's words for status, carrier and currency, mapped to ours; never a rejection."""

from __future__ import annotations

import pytest

from ingestion.order_states import NO_CURRENCY, OrderState, ShopSystem, Vocabulary

S = OrderState
WOO = ShopSystem.WOOCOMMERCE


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("pending", S.AWAITING_PAYMENT),
        ("failed", S.AWAITING_PAYMENT),
        ("processing", S.PROCESSING),
        ("on-hold", S.ON_HOLD),
        ("completed", S.SHIPPED),
        ("cancelled", S.CANCELLED),
        ("refunded", S.REFUNDED),
        ("awaiting-pickup", S.UNKNOWN),
    ],
)
def test_every_woocommerce_status_has_a_state(word, state):
    assert Vocabulary().state(word, system=WOO) == state


@pytest.mark.parametrize(
    ("financial", "fulfillment", "state"),
    [
        ("paid", "fulfilled", S.SHIPPED),
        ("PAID", "PARTIALLY_FULFILLED", S.SHIPPED),
        ("paid", "", S.PROCESSING),
        ("authorized", "unfulfilled", S.PROCESSING),
        ("pending", "unfulfilled", S.AWAITING_PAYMENT),
        ("partially_paid", "partial", S.AWAITING_PAYMENT),
        ("partially_refunded", "fulfilled", S.SHIPPED),
        ("refunded", "restocked", S.REFUNDED),
        ("voided", "unfulfilled", S.CANCELLED),
        ("expired", "", S.CANCELLED),
        ("paid", "ON_HOLD", S.ON_HOLD),
        ("paid", "restocked", S.RETURNED),
        ("paid", "teleported", S.UNKNOWN),
    ],
)
def test_shopifys_two_statuses_become_one_state(financial, fulfillment, state):
    assert Vocabulary().shopify_state(financial, fulfillment) == state


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("Pending", S.PROCESSING),
        ("processed", S.PROCESSING),
        ("Dispatched", S.SHIPPED),
        ("In Transit", S.SHIPPED),
        ("on_hold", S.ON_HOLD),
        ("Awaiting Payment", S.AWAITING_PAYMENT),
        ("canceled", S.CANCELLED),
        ("", S.UNKNOWN),
        ("lost in the mail, sorry", S.UNKNOWN),
    ],
)
def test_free_text_statuses_map_by_their_common_words(word, state):
    assert Vocabulary().state(word) == state


def test_an_owner_overrides_a_word_in_one_system_or_in_all():
    vocabulary = Vocabulary(
        statuses={"woocommerce:awaiting-pickup": "shipped", "In der Post": "shipped"}
    )
    assert vocabulary.state("awaiting-pickup", system=WOO) == S.SHIPPED
    assert vocabulary.state("awaiting-pickup") == S.UNKNOWN  # only WooCommerce's word
    assert vocabulary.state("in der post") == S.SHIPPED
    pair = Vocabulary(statuses={"shopify:paid / on_hold": "processing"})
    assert pair.shopify_state("PAID", "ON_HOLD") == S.PROCESSING


def test_known_carriers_get_their_name_and_tracking_link_and_others_are_kept():
    vocabulary = Vocabulary()
    assert vocabulary.carrier("ups ground") == "UPS"
    assert (
        vocabulary.tracking_url("UPS", "1Z 999 AA1")
        == "https://www.ups.com/track?tracknum=1Z999AA1"
    )
    assert vocabulary.carrier("Zork Post") == "Zork Post"
    assert vocabulary.tracking_url("Zork Post", "123") is None
    assert vocabulary.carrier("  ") is None


def test_an_owner_adds_a_carrier_with_its_tracking_page():
    vocabulary = Vocabulary(
        carriers={
            "hermes de": {"name": "Hermes", "tracking_url": "https://hermes.example/{number}"}
        }
    )
    assert vocabulary.carrier("Hermes DE") == "Hermes"
    assert vocabulary.tracking_url("Hermes", "H1") == "https://hermes.example/H1"


@pytest.mark.parametrize(
    ("text", "code"),
    [("usd", "USD"), ("€", "EUR"), ("Euro", "EUR"), ("£", "GBP"), ("zorkmid", NO_CURRENCY)],
)
def test_currencies_become_iso_codes_or_no_currency(text, code):
    assert Vocabulary().currency(text) == code


def test_an_owner_maps_an_ambiguous_currency_symbol():
    assert Vocabulary().currency("kr") == "SEK"
    assert Vocabulary(currencies={"kr": "DKK"}).currency("kr") == "DKK"
