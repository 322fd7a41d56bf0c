"""Channels: how customers' messages reach the desk, and how its answers reach them."""
