"""The supervision read model, its queries, the rule book file and the publication of decisions."""
