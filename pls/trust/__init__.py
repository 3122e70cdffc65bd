"""Trust between the federation's members: who they are, what they may publish and read,
how their events are signed, and who may call which HTTP operation."""
