"""A traffic simulator calibrated on the national volumes of the public legal service platform."""
