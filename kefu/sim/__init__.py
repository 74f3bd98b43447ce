"""Simulated visitors and agents for the demo and for load tests (pure: plans, no I/O).

- :mod:`kefu.sim.script` — what is said: the demo shop's knowledge base and lines (``kefu/demo_data``).
- :mod:`kefu.sim.traffic` — when and how: arrival curves, Poisson arrivals by thinning, and the
  behaviour of visitors and agents as plans that a driver plays over the real WebSocket protocol.
"""
