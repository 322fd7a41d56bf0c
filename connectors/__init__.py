"""Live order lookups in the shop's own system: Shopify, WooCommerce or the shop's endpoint.

Each connector answers what the imported snapshot answers (one order by number, a
customer's recent orders by email) as ingestion.records.ShopOrder, so who may see an
order and what the agent says about it do not depend on where it came from. The
settings choose one; without any, lookups read the snapshot.
"""

from __future__ import annotations

from connectors.base import Connector, ConnectorError
from connectors.shopify import ShopifyOrders
from connectors.signed_http import SignedEndpointOrders
from connectors.woocommerce import WooCommerceOrders
from settings import ConfigError, Settings

CONNECTORS: dict[str, type[Connector]] = {
    "shopify": ShopifyOrders,
    "woocommerce": WooCommerceOrders,
    "http": SignedEndpointOrders,
}
NEEDS = {
    "shopify": "SUPPORT_SHOPIFY_STORE and SUPPORT_SHOPIFY_TOKEN",
    "woocommerce": "SUPPORT_WOOCOMMERCE_URL, SUPPORT_WOOCOMMERCE_KEY and "
    "SUPPORT_WOOCOMMERCE_SECRET",
    "http": "SUPPORT_ORDERS_URL and SUPPORT_ORDERS_SECRET",
}


def connector_name(settings: Settings) -> str | None:
    """The connector the settings choose; None for the snapshot."""
    if settings.orders_connector == "snapshot":
        return None
    if settings.orders_connector:
        name = settings.orders_connector
        if not CONNECTORS[name].configured(settings):
            raise ConfigError(f"SUPPORT_ORDERS_CONNECTOR={name} needs {NEEDS[name]}")
        return name
    named = [name for name, connector in CONNECTORS.items() if connector.configured(settings)]
    if len(named) > 1:
        raise ConfigError(
            f"order lookups are configured for {' and '.join(named)}: choose one with "
            "SUPPORT_ORDERS_CONNECTOR"
        )
    return named[0] if named else None


def connector_for(settings: Settings) -> Connector | None:
    name = connector_name(settings)
    return None if name is None else CONNECTORS[name](settings)


__all__ = ["CONNECTORS", "Connector", "ConnectorError", "connector_for", "connector_name"]
