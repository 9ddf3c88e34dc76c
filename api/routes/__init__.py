"""One router per resource: products (and their uploads), jobs, published files, viewer pages."""
