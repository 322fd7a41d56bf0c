"""The demo shop page at / that shows the widget the way a shop would embed it."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.services import services

shop = Blueprint("shop", __name__)


@shop.get("/")
def home():
    return render_template("shop.html", shop_name=services().settings.shop_name)
