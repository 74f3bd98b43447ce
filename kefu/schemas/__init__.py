"""Typed request and response schemas, one module per entity (``XCreate``, ``XUpdate``, ``XPublic``)."""
