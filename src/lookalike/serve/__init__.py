"""HTTP service: API, browse page and widget."""
