"""What shoppers see: the product page around <model-viewer>, and the self-hosted bundle.

`viewer.pages` renders the HTML; `viewer/static/` is served at /static by the API, with
`vendor/` filled from node_modules by `make setup` (pinned versions, no CDN at run time).
"""
