"""Web: pages, the JSON API, templates and the browser's ES modules."""
