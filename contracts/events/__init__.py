"""Integration event payloads (the CloudEvents `data`), one module per aggregate."""
