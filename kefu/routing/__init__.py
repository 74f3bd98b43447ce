"""Routing: skill-group queues and the distribution modes (pure logic in ``engine``)."""
