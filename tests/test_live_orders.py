"""A whole turn with live order lookups: the shop's system answers, refuses, or is down."""

from __future__ import annotations

import pytest

from agent.draft import AnswerType, ReasonCode
from desk import Desk
from kb.retrieval import Retriever
from tests import scripted_llm
from tests.conftest import TEST_LLM, shop_settings
from tests.loopback import served
from tests.scripted_llm import script
from tests.shop_apis import (
    SHOPIFY_TOKEN,
    WOO_KEY,
    WOO_SECRET,
    Faults,
    shopify_app,
    shopify_nodes,
    woocommerce_app,
    woocommerce_orders,
)


@pytest.fixture(scope="module")
def retriever(web_data_dir):
    scripted_llm.register()
    return Retriever(shop_settings(web_data_dir))


def _desk(web_data_dir, retriever, **connector) -> Desk:
    settings = shop_settings(web_data_dir, llm_model="scripted/main", llm_backoff=0, **connector)
    return Desk(settings, retriever=retriever)


@pytest.fixture
def shopify(web_data_dir, retriever):
    """A desk whose lookups go to a loopback Shopify; yields (desk, the server's faults)."""
    faults = Faults()
    with served(shopify_app(shopify_nodes(), faults)) as url:
        connector = {"shopify_store": url, "shopify_token": SHOPIFY_TOKEN, "orders_max_wait": 2}
        yield _desk(web_data_dir, retriever, **connector), faults


def test_a_verified_customer_gets_the_live_status_with_carrier_link_and_estimate(shopify):
    desk, faults = shopify
    draft = desk.ask("Where is my order #1001?", email="ada.lovelace@example.com")
    assert draft.decision == "send", draft.reasons
    assert draft.answer_type == AnswerType.ORDER_STATUS
    assert "shipped on 2026-11-21 with DHL" in draft.reply
    assert "expected to arrive on 2026-11-25" in draft.reply
    assert "https://www.dhl.com/en/express/tracking.html?AWB=JD014600006281230704" in draft.reply
    assert draft.tool_calls[0].result["shop_status"] == "paid / fulfilled"
    assert len(faults.requests) == 1


def test_a_partial_refund_is_told_with_the_delivery(shopify):
    desk, _ = shopify
    draft = desk.ask("Where is my order #1002?", email="ada.lovelace@example.com")
    assert "was delivered on 2026-11-05" in draft.reply
    assert "20.00 EUR of it has been refunded" in draft.reply


def test_someone_elses_live_order_is_not_shown(shopify):
    desk, _ = shopify
    script("scripted/main", ["I could not find that order. Could you check the number?", "YES"])
    draft = desk.ask("Where is my order #1004?", email="ada.lovelace@example.com")
    assert not draft.tool_calls[0].ok
    assert "Grace" not in draft.reply and "Travel Mug" not in str(draft.tool_calls)


def test_when_the_shop_is_down_the_turn_waits_for_a_person_with_the_reason(shopify):
    desk, faults = shopify
    faults.always = (503, {}, "Service Unavailable")
    draft = desk.ask("Where is my order #1005?", email="ada.lovelace@example.com")
    assert draft.decision == "review"
    [reason] = draft.reasons
    assert reason.code == ReasonCode.ORDERS_UNAVAILABLE
    assert "Shopify did not answer: HTTP 503 (3 tries)" in reason.text
    assert "on hold" not in draft.reply and "a person from our team" in draft.reply
    assert draft.model is None  # no model was asked to write about an order nobody checked


def test_a_status_nobody_mapped_goes_to_a_person_naming_the_word(web_data_dir, retriever):
    faults = Faults()
    with served(woocommerce_app(woocommerce_orders(), faults)) as url:
        connector = {"woocommerce_key": WOO_KEY, "woocommerce_secret": WOO_SECRET}
        desk = _desk(web_data_dir, retriever, woocommerce_url=url, **connector)
        draft = desk.ask("Where is my order #740?", email="mary.anning@example.co.uk")
    assert draft.decision == "review"
    assert ReasonCode.UNKNOWN_ORDER_STATUS in {reason.code for reason in draft.reasons}
    assert any("'awaiting-pickup'" in reason.text for reason in draft.reasons)


@pytest.mark.model
def test_the_local_model_writes_from_the_live_order(web_data_dir, retriever):
    """A question the template does not answer: the real model drafts from the live lookup."""
    faults = Faults()
    with served(shopify_app(shopify_nodes(), faults)) as url:
        connector = {"shopify_store": url, "shopify_token": SHOPIFY_TOKEN}
        settings = shop_settings(web_data_dir, llm_model=TEST_LLM, **connector)
        draft = Desk(settings, retriever=retriever).ask(
            "Hello! I bought a kettle as a birthday present for my mother, order #1001. "
            "Which carrier is bringing it, and when should it get to me?",
            email="ada.lovelace@example.com",
        )
    assert draft.answer_type == AnswerType.GENERATED and draft.model == TEST_LLM
    [lookup] = [call for call in draft.tool_calls if call.name == "lookup_order"]
    assert lookup.ok and lookup.result["carrier"] == "DHL"
    assert len(faults.requests) == 1  # asked the shop once, not from memory or twice
    assert "DHL" in draft.reply
