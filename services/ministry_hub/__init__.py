"""The ministry hub: every province's events projected once into the national read model."""
