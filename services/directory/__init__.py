"""The national directory of legal service agencies: search, navigation and credit information."""
