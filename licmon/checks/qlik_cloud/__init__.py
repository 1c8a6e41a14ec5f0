"""Qlik Cloud tenants: the subscription's end and its allotments, read with an API key."""
