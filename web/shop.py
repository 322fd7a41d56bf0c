"""The demo shop page at / that shows the widget the way a shop would embed it.

`/?lang=de` sets the widget's data-lang, to show it in another language.
"""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request

from web.services import services

shop = Blueprint("shop", __name__)

# A language tag (BCP 47 shape: "ar", "zh-CN", "zh-Hans"); anything else is left out.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")


@shop.get("/")
def home():
    lang = request.args.get("lang", "")
    return render_template(
        "shop.html",
        shop_name=services().settings.shop_name,
        widget_lang=lang if LANGUAGE_TAG.fullmatch(lang) else None,
    )
