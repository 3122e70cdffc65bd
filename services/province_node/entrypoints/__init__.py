"""How the outside reaches the node: the HTTP API and the process entrypoint."""
