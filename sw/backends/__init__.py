"""Device backends: one module per kind of device."""
