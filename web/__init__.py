"""The web side: the customer API and widget, the operator pages, and the ops endpoints."""
