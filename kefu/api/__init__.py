"""HTTP and WebSocket interface: thin routes over typed schemas that call actions."""
