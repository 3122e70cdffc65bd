"""The directory's model: agency profiles in the Open Referral shape, opening hours, places and
the rules by which a citizen's words find an agency."""
