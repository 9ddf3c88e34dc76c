"""What shoppers and storefronts see: the product page around <model-viewer>, the embed page and
snippets, QR codes, posters, and the self-hosted bundle.

`viewer.pages` renders the HTML (with `ar_links` for the Scene Viewer / Quick Look extras and
`dimensions` for the size labels), `viewer.security` the pages' CSP, `viewer.qr` the QR codes,
`viewer.poster` the posters rendered at publish time. `viewer/static/` is served at /static by
the API, with `vendor/` filled from node_modules by `make setup` (pinned versions, no CDN).
"""
