"""What the phone AR viewers are told besides the model: Scene Viewer's title and link, and the
Quick Look banner.

Both ride on the model URLs themselves, because that is the only channel model-viewer has to
them: Scene Viewer gets the `src` query string (model-viewer copies `title`, `link` and the
model URL into its intent), Quick Look gets the `ios-src` fragment (model-viewer keeps it and
appends `allowsContentScaling=0` for `ar-scale="fixed"`). Values are percent-encoded here, so
catalog text can never add parameters of its own.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit


def scene_viewer_src(glb_url: str, *, title: str | None, link: str | None) -> str:
    """The GLB URL with `title` and `link` added to its query (existing parameters kept)."""
    parts = urlsplit(glb_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("title", "link")]
    query += [(key, value) for key, value in (("title", title), ("link", link)) if value]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def quick_look_src(
    usdz_url: str,
    *,
    call_to_action: str | None,
    checkout_title: str | None,
    checkout_subtitle: str | None,
    price: str | None,
) -> str:
    """The USDZ URL with the Quick Look banner in its fragment; unchanged when there is no banner.

    Quick Look shows the banner when there is a call to action or a price; its title line
    defaults to the product's checkout title, so the caller passes the product name when unset.
    """
    if not (call_to_action or price):
        return usdz_url
    fields = {
        "callToAction": call_to_action,
        "checkoutTitle": checkout_title,
        "checkoutSubtitle": checkout_subtitle,
        "price": price,
    }
    fragment = "&".join(f"{key}={quote(value, safe='')}" for key, value in fields.items() if value)
    return urlunsplit(urlsplit(usdz_url)._replace(fragment=fragment))
